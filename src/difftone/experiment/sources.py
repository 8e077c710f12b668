"""Source generations: every prompt x seed of one instrument, with the classifier's
reading of x0_hat at every step and the cache an edit resumes from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import Editor, Trajectory
from difftone.experiment.items import SOURCE_COLUMNS, check_finite, item_id, read_table
from difftone.prompts import read_prompts

log = logging.getLogger(__name__)


def generate_sources(
    prompts_file: str | Path,
    instrument: str,
    out_dir: str | Path,
    *,
    model: str,
    classifier: str | Path,
    seeds: Sequence[int],
    steps: int,
    duration: float,
    guidance_scale: float,
    batch_size: int = 8,
    device: str = "cpu",
    dtype: str = "float32",
    window=None,
    cache_dtype: str = "float16",
    compile: bool = False,
    model_window: str = "full",
    window_margin: int = 8,
) -> pd.DataFrame:
    """Generate the sources of ``instrument`` into ``out_dir`` (layout: :mod:`difftone.experiment.items`).

    ``model``: a :func:`difftone.models.load_sao` spec; ``classifier``: the distilled latent
    classifier checkpoint the engine runs on x0_hat (read in windows of its training length, ``window``:
    ``classifiers.window``). ``cache_dtype``: ``generation.cache_dtype`` (the trajectory cache's dtype);
    ``compile``, ``model_window``, ``window_margin``: ``model.compile``, ``model.window``,
    ``model.window_margin_frames`` (:func:`difftone.models.load_sao`). Returns and writes ``items.csv``.
    """
    from difftone.classifiers import load_latent_classifier
    from difftone.models import load_sao

    out_dir = Path(out_dir)
    prompts = read_prompts(prompts_file, instrument)
    jobs = [(p, seed) for p in range(len(prompts)) for seed in seeds]
    from difftone.models.loader import compile_module

    components = load_sao(model, dtype=dtype, device=device, compile=compile, window=model_window,
                          window_margin=window_margin)
    latent_classifier = load_latent_classifier(classifier, device=device, window=window)
    if compile:
        compile_module(latent_classifier)
    editor = Editor(components, classifier=latent_classifier, progress=False, cache_dtype=cache_dtype)
    editor.check_settings(steps, duration, guidance_scale)
    rows = []
    for start in tqdm(range(0, len(jobs), batch_size), desc=f"sources {instrument}", unit="batch"):
        batch = jobs[start : start + batch_size]
        trajectories = editor.generate_sources(
            [prompts[p] for p, _ in batch], [seed for _, seed in batch], steps, duration, guidance_scale
        )
        for (p, seed), traj in zip(batch, trajectories):
            rows.append(_save_item(out_dir, instrument, p, seed, traj))
    items = pd.DataFrame(rows, columns=SOURCE_COLUMNS)
    items.to_csv(out_dir / "items.csv", index=False)
    log.info("%d sources of %s: %d NFE in all", len(items), instrument, editor.nfe)
    return items


def _save_item(out_dir: Path, instrument: str, prompt_index: int, seed: int, traj: Trajectory) -> dict:
    item = item_id(instrument, prompt_index, seed)
    check_finite(traj.latents, f"the latents of source {item}")
    check_finite(traj.audio, f"the audio of source {item}")
    folder = out_dir / item
    traj.save(folder / "trajectory")
    audio.write(folder / "source.wav", traj.audio.numpy(), traj.sample_rate)
    return {
        "item": item,
        "instrument": instrument,
        "prompt_index": prompt_index,
        "seed": seed,
        "prompt": traj.prompt,
        "audio": str(Path(item) / "source.wav"),
        "trajectory": str(Path(item) / "trajectory"),
        "top1_final": traj.trace.top1[-1] if traj.trace is not None and traj.trace.steps else "",
    }


def read_sources(sources_dir: str | Path) -> pd.DataFrame:
    """``items.csv`` of a source folder, with ``audio``/``trajectory`` made absolute."""
    sources_dir = Path(sources_dir)
    items = read_table(sources_dir / "items.csv", SOURCE_COLUMNS, "source generation")
    for col in ("audio", "trajectory"):
        items[col] = [str(sources_dir / p) for p in items[col]]
    return items


def generated_set(sources_dirs: Sequence[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """The generated evaluation set of Table I: every source's audio, labelled by its prompt's instrument."""
    frames = [read_sources(d)[["audio", "instrument", "item"]].rename(columns={"audio": "path"}) for d in sources_dirs]
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(out_csv, index=False)
    return df
