"""Figure 2 of the paper: a source generation and its edits with the instrument word swapped at
several denoising steps, as mel spectrograms, with the audio of each.

Too early a swap (step 0 is a generation from the target prompt with the same seed) changes
the music; too late (step N returns the source) changes nothing.

Audio folder layout (``audio_dir``, written to a temporary folder and renamed)::

    swap_steps.csv                 one row per panel (MANIFEST_COLUMNS); ``audio`` relative to audio_dir
    <source>_to_<target>/source.wav
    <source>_to_<target>/step_<k:03d>.wav
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import Editor, Trajectory, swap_instrument
from difftone.experiment.items import check_finite, pair_name, sigma_of
from difftone.experiment.sources import read_sources
from difftone.files import atomic_folder, atomic_path
from difftone.report.examples import swap_steps_of

log = logging.getLogger(__name__)

MANIFEST = "swap_steps.csv"
MANIFEST_COLUMNS = ["source", "target", "item", "kind", "prompt", "target_prompt", "swap_step", "steps", "sigma",
                    "audio", "trace"]


def plot_swap_steps(
    sources_dirs: Mapping[str, str | Path],
    examples: Sequence[tuple[str, str]],
    figure: str | Path,
    audio_dir: str | Path,
    *,
    model,
    fractions: Sequence[float],
    synonyms: Mapping[str, Sequence[str]] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    n_mels: int = 128,
) -> pd.DataFrame:
    """Edit one source per example pair at the swap steps ``round(f * N)`` of ``fractions``.

    ``sources_dirs``: instrument -> source-generation folder (its first item, the first prompt and
    seed, is the example); ``model``: a :func:`difftone.models.load_sao` spec, or loaded components.
    Writes ``figure`` (PNG: one row per pair, the source then each swap step, titled with step and
    sigma) and ``audio_dir`` (module docstring); returns the manifest.
    """
    from difftone.models import load_sao

    if not examples:
        raise ValueError("figure 2 needs at least one (source, target) example pair (report.examples)")
    components = load_sao(model, dtype=dtype, device=device) if isinstance(model, str) else model
    editor = Editor(components, progress=False)
    audio_dir = Path(audio_dir)
    rows, panels = [], []
    with atomic_folder(audio_dir) as tmp:
        for source, target in tqdm(list(examples), desc="figure 2", unit="pair"):
            row_panels = _edit_example(editor, sources_dirs[source], source, target, fractions, synonyms, tmp, rows)
            panels.append((source, target, row_panels))
        manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
        manifest.to_csv(tmp / MANIFEST, index=False)
    _plot(panels, figure, n_mels)
    log.info("figure 2: %d pair(s) x %d panels -> %s, audio in %s", len(panels), len(panels[0][2]) if panels else 0,
             figure, audio_dir)
    return manifest


def _edit_example(editor: Editor, sources_dir, source: str, target: str, fractions, synonyms, out: Path,
                  rows: list[dict]) -> list[tuple[str, np.ndarray, int]]:
    """Edit the first source item of ``sources_dir`` at every swap step; append manifest rows, return panels."""
    item = read_sources(sources_dir).iloc[0]
    traj = Trajectory.load(item["trajectory"])
    n = traj.steps
    target_prompt = swap_instrument(traj.prompt, source, target, synonyms)
    steps = swap_steps_of(fractions, n)
    waves = editor.edit(traj, [target_prompt] * len(steps), steps)
    folder = out / pair_name(source, target)
    trace = json.dumps(traj.trace.top1) if traj.trace is not None else ""
    base = {"source": source, "target": target, "item": item["item"], "prompt": traj.prompt,
            "target_prompt": target_prompt, "steps": n, "trace": trace}
    panels = []
    entries = [("source", None, traj.audio)] + [("swap", k, w) for k, w in zip(steps, waves)]
    for kind, k, wave in entries:
        check_finite(wave, f"the figure 2 edit of {item['item']} to {target} at step {k}")
        name = "source.wav" if k is None else f"step_{k:03d}.wav"
        audio.write(folder / name, wave.numpy(), traj.sample_rate)
        sigma = sigma_of(traj.sigmas, k)
        rows.append({**base, "kind": kind, "swap_step": "" if k is None else k, "sigma": sigma,
                     "audio": f"{pair_name(source, target)}/{name}"})
        if k is None:
            title = f"source ({source})"
        elif k == n:
            title = f"step {k}/{n} (no swap)"
        else:
            title = f"swap at step {k}/{n}\nσ = {sigma:.3g}"
        panels.append((title, wave.numpy(), traj.sample_rate))
    return panels


def mel_db(wave: np.ndarray, sample_rate: int, n_mels: int = 128, hop_length: int = 512) -> np.ndarray:
    """Log-mel power spectrogram (dB) of the mono mix of ``wave[ch, n]`` (librosa)."""
    import librosa

    mono = np.asarray(wave, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    n_fft = 2048
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    mel = librosa.feature.melspectrogram(y=mono, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return librosa.power_to_db(mel, ref=1.0, top_db=None)


def _plot(panels, figure: str | Path, n_mels: int, hop_length: int = 512) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import librosa.display
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(panels), max(len(p[2]) for p in panels)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.3 * n_rows), squeeze=False,
                             layout="constrained")
    for r, (source, target, row) in enumerate(panels):
        mels = [mel_db(w, sr, n_mels, hop_length) for _, w, sr in row]
        vmax = max(float(m.max()) for m in mels)
        for c, ((title, _, sr), mel) in enumerate(zip(row, mels)):
            ax = axes[r][c]
            img = librosa.display.specshow(mel, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", ax=ax,
                                           vmin=vmax - 80.0, vmax=vmax, cmap="magma")
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel(f"{source} → {target}\nHz" if c == 0 else "", fontsize=7)
        for c in range(len(row), n_cols):
            axes[r][c].axis("off")
    fig.colorbar(img, ax=axes, format="%+.0f dB", shrink=0.6)
    fig.suptitle("Swapping the instrument word at different denoising steps (mel spectrograms)", fontsize=10)
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
