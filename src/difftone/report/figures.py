"""Figure 2 of the paper, drawn from files: a source generation and its edits with the instrument word
swapped at several denoising steps, as mel spectrograms.

The edits are made by the experiment stage (rule ``edit_swap_steps``,
:func:`difftone.experiment.swap_steps.edit_swap_steps`), which writes the audio folder and
its manifest ``swap_steps.csv``; this module reads them and draws the PNG (rule
``plot_swap_steps``). It loads no model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from difftone import audio
from difftone.experiment.items import read_table
from difftone.experiment.swap_steps import MANIFEST, MANIFEST_COLUMNS
from difftone.files import atomic_path

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "MANIFEST_COLUMNS", "mel_db", "plot_swap_steps"]


def plot_swap_steps(audio_dir: str | Path, figure: str | Path, n_mels: int = 128) -> pd.DataFrame:
    """Draw ``figure`` (PNG: one row per example pair, the source then each swap step, titled with the
    step and sigma) from the Figure 2 audio folder ``audio_dir``; returns its manifest."""
    audio_dir = Path(audio_dir)
    manifest = read_table(audio_dir / MANIFEST, MANIFEST_COLUMNS, "Figure 2 (edit_swap_steps)")
    panels = []
    for (source, target), rows in manifest.groupby(["source", "target"], sort=False):
        row_panels = []
        for r in rows.itertuples():
            wave, sr = audio.load(audio_dir / r.audio)
            n, k = int(r.steps), r.swap_step
            if r.kind == "source":
                title = f"source ({source})"
            elif int(float(k)) == n:
                title = f"step {n}/{n} (no swap)"
            else:
                title = f"swap at step {int(float(k))}/{n}\nσ = {float(r.sigma):.3g}"
            row_panels.append((title, wave, sr))
        panels.append((source, target, row_panels))
    if not panels:
        raise ValueError(f"{audio_dir / MANIFEST} lists no panels: rerun edit_swap_steps")
    _plot(panels, figure, n_mels)
    log.info("figure 2: %d pair(s) x %d panels -> %s", len(panels), len(panels[0][2]), figure)
    return manifest


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
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.3 * n_rows), squeeze=False, layout="constrained")
    for r, (source, target, row) in enumerate(panels):
        mels = [mel_db(w, sr, n_mels, hop_length) for _, w, sr in row]
        vmax = max(float(m.max()) for m in mels)
        for c, ((title, _, sr), mel) in enumerate(zip(row, mels)):
            ax = axes[r][c]
            img = librosa.display.specshow(
                mel,
                sr=sr,
                hop_length=hop_length,
                x_axis="time",
                y_axis="mel",
                ax=ax,
                vmin=vmax - 80.0,
                vmax=vmax,
                cmap="magma",
            )
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


def plot_mel_thumbnail(
    wav: str | Path, png: str | Path, n_mels: int = 64, hop_length: int = 512, top_db: float = 80.0
) -> Path:
    """A small mel spectrogram (PNG, about 420 x 190 px, time in s, frequency in Hz on a mel axis) of the
    audio file ``wav``, for the page's players."""
    import matplotlib

    matplotlib.use("Agg")
    import librosa.display
    import matplotlib.pyplot as plt

    wave, sr = audio.load(wav)
    mel = mel_db(wave, sr, n_mels, hop_length)
    fig, ax = plt.subplots(figsize=(4.2, 1.9))
    fig.subplots_adjust(left=0.15, right=0.98, bottom=0.22, top=0.96)  # fixed margins: a layout solve doubles the time
    vmax = float(mel.max())
    librosa.display.specshow(
        mel,
        sr=sr,
        hop_length=hop_length,
        x_axis="time",
        y_axis="mel",
        ax=ax,
        vmin=vmax - top_db,
        vmax=vmax,
        cmap="magma",
    )
    ax.tick_params(labelsize=8)
    ax.set_xlabel("s", fontsize=8)
    ax.set_ylabel("Hz", fontsize=8)
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png
