"""Source generations: every prompt x seed of an instrument, with the classifier's
reading of x0_hat at every step and the cache an edit resumes from."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import Editor, Trajectory
from difftone.experiment.items import SOURCE_COLUMNS, check_finite, item_id, read_table
from difftone.models import ModelSettings
from difftone.prompts import read_prompts

log = logging.getLogger(__name__)


def generate_sources(prompts_file: str | Path, instrument: str, out_dir: str | Path, **settings) -> pd.DataFrame:
    """Generate the sources of ``instrument`` into ``out_dir`` (layout: :mod:`difftone.experiment.items`);
    ``settings``: those of :func:`generate_instrument_sources`. Returns and writes ``items.csv``."""
    return generate_instrument_sources({instrument: prompts_file}, {instrument: out_dir}, **settings)[instrument]


def generate_instrument_sources(
    prompt_files: Mapping[str, str | Path],
    out_dirs: Mapping[str, str | Path],
    *,
    model: ModelSettings | Mapping | str,
    classifier: str | Path,
    seeds: Sequence[int],
    steps: int,
    duration: float,
    guidance_scale: float,
    batch_size: int = 8,
    window=None,
    cache_dtype: str = "float16",
) -> dict[str, pd.DataFrame]:
    """The sources of several instruments ``{code: prompts file}`` into ``{code: folder}``, in one process: one
    model load, batches of ``batch_size`` sources across instruments (rule ``generate_sources``: the
    instruments of ``generation.instruments_per_job``). Returns ``{code: items}`` (each folder's ``items.csv``).

    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec; its
    ``compile`` also compiles the classifier); ``classifier``: the distilled latent classifier checkpoint
    the engine runs on x0_hat (read in windows of its training length, ``window``: ``classifiers.window``).
    ``cache_dtype``: ``generation.cache_dtype`` (the trajectory cache's dtype).
    """
    from difftone.classifiers import load_latent_classifier
    from difftone.models.loader import compile_module

    if set(prompt_files) != set(out_dirs):
        raise ValueError(f"prompt files for {sorted(prompt_files)} but folders for {sorted(out_dirs)}")
    prompts = {code: read_prompts(path, code) for code, path in prompt_files.items()}  # every file checked first
    jobs = [(code, p, seed) for code in prompts for p in range(len(prompts[code])) for seed in seeds]
    model = ModelSettings.of(model)
    components = model.load()
    latent_classifier = load_latent_classifier(classifier, device=model.device, window=window)
    if model.compile:
        compile_module(latent_classifier)
    editor = Editor(components, classifier=latent_classifier, progress=False, cache_dtype=cache_dtype)
    editor.check_settings(steps, duration, guidance_scale)
    rows: dict[str, list[dict]] = {code: [] for code in prompts}
    for start in tqdm(range(0, len(jobs), batch_size), desc=f"sources {', '.join(prompts)}", unit="batch"):
        batch = jobs[start : start + batch_size]
        trajectories = editor.generate(
            [prompts[code][p] for code, p, _ in batch], [seed for _, _, seed in batch], steps, duration, guidance_scale
        )
        for (code, p, seed), traj in zip(batch, trajectories):
            rows[code].append(_save_item(Path(out_dirs[code]), code, p, seed, traj))
    items = {}
    for code, folder in out_dirs.items():
        items[code] = pd.DataFrame(rows[code], columns=SOURCE_COLUMNS)
        Path(folder).mkdir(parents=True, exist_ok=True)
        items[code].to_csv(Path(folder) / "items.csv", index=False)
    log.info("%d sources of %s: %d NFE in all", len(jobs), ", ".join(prompts), editor.nfe)
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
