"""The independent check: the trained classifiers on clips of a soundfont kept out of the whole workflow.

The embedded dataset is rendered from its training soundfonts and sets one more aside for Table I's
``heldout_soundfont`` row (:mod:`difftone.data.render`). The FluidR3 soundfonts (Debian's
``fluid-soundfont-gm``, ``fluidr3mono-gm-soundfont``) are never rendered into it
(:data:`difftone.data.soundfonts.INDEPENDENT`): this module renders clips of them, of scores no dataset
clip plays and with each instrument's own General MIDI patch, and scores the trained teacher, the
latent classifiers and the judge on them, as Table I scores its generated set.

``python scripts/independent_check.py --soundfont FluidR3Mono_GM`` after a run of the embedded default.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.data.render import render_clip
from difftone.data.soundfonts import resolve_soundfont, soundfont_name
from difftone.files import atomic_folder, atomic_path
from difftone.metrics.bootstrap import accuracy_ci

log = logging.getLogger(__name__)

FIRST_INDEX = 10_000  # clip indices of the check: scores that no dataset clip (index < clips per instrument) plays
COLUMNS = ["soundfont", "classifier", "accuracy", "ci_low", "ci_high", "n"]


def render_check_set(
    out_dir: str | Path,
    soundfont: str,
    instruments: list[str],
    clips: int,
    seed: int = 0,
    sample_rate: int = 44100,
    clip_seconds: float = 3.0,
) -> Path:
    """Render ``clips`` clips per instrument from ``soundfont`` into ``out_dir/<code>/NNNNN.wav`` and list them
    in ``out_dir/clips.csv`` (path, instrument); returns that CSV."""
    resolve_soundfont(soundfont, key="--soundfont", allow_independent=True)
    out_dir = Path(out_dir)
    rows = []
    with atomic_folder(out_dir) as tmp:
        jobs = [(code, FIRST_INDEX + i) for code in instruments for i in range(clips)]
        for code, index in tqdm(jobs, desc=f"render {soundfont_name(soundfont)}", unit="clip"):
            wave, _, meta = render_clip(
                code, index, seed, sample_rate, clip_seconds, soundfont=soundfont, variants=False
            )
            rel = Path(code) / f"{index:05d}.wav"
            audio.write(tmp / rel, wave, sample_rate)
            rows.append({"path": str(out_dir / rel), "instrument": code, **{k: meta[k] for k in ("kind", "pitches")}})
        pd.DataFrame(rows).to_csv(tmp / "clips.csv", index=False)
    return out_dir / "clips.csv"


def independent_check(
    out_dir: str | Path,
    soundfont: str,
    classifiers_dir: str | Path,
    model_spec: str,
    judge=None,
    clips: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
    device: str = "cpu",
) -> pd.DataFrame:
    """Render the check set and score the teacher, distilled and non-distilled classifiers of
    ``classifiers_dir`` (and ``judge``); writes ``out_dir/accuracy.csv`` and returns it."""
    from difftone.classifiers.table1 import _generated_predictions
    from difftone.classifiers.teacher import load_teacher
    from difftone.models import load_sao

    classifiers_dir = Path(classifiers_dir)
    _, tconfig = load_teacher(classifiers_dir / "teacher")
    instruments = list(tconfig["instruments"])
    clips_csv = render_check_set(out_dir, soundfont, instruments, clips, seed)
    preds = _generated_predictions(
        clips_csv,
        instruments,
        classifiers_dir / "teacher",
        classifiers_dir / "distilled",
        classifiers_dir / "non-distilled",
        None,
        load_sao(model_spec, device=device),
        device,
        judge,
    )
    rows = []
    for name, (pred, y) in preds.items():
        acc, low, high = accuracy_ci(pred, y, n_boot=n_boot, seed=seed)
        rows.append(
            dict(soundfont=soundfont_name(soundfont), classifier=name, accuracy=acc, ci_low=low, ci_high=high, n=len(y))
        )
        log.info("%s on %s: %.3f [%.3f, %.3f], n=%d", name, soundfont, acc, low, high, len(y))
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(Path(out_dir) / "accuracy.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return table
