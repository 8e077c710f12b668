"""Edits of one swap strategy over every ordered instrument pair.

One job loads the model once, walks the source generations, picks each edit's swap
step with the strategy, and resumes each source's cached trajectory for all its
targets at once (targets that swap at the same step run as one batch: under
``difftone``, ``midpoint``, ``fixed:K`` and ``sigma:S`` that is all of them).

Probe strategies (``agree``, ``probe``) first run the target prompt on the source's
cached noisy latents (:class:`difftone.engine.TargetProbe`; ``probe`` reads it with the
distilled latent classifier); those denoiser evaluations are counted per edit (``probe_nfe`` in
``swaps.csv``, included in ``nfe``) and in ``nfe.json``.
"""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path
from typing import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import Editor, TargetProbe, Trajectory, choose_swap_step, needs_probe, swap_instrument
from difftone.experiment.items import (
    SWAP_COLUMNS,
    ExperimentError,
    check_finite,
    pair_name,
    sigma_of,
)
from difftone.experiment.sources import read_sources

log = logging.getLogger(__name__)


def edit_rng(seed: int, item: str, target: str) -> np.random.Generator:
    """The random stream of one edit: depends on the seed, the item and the target only."""
    return np.random.default_rng([seed, zlib.crc32(item.encode()), zlib.crc32(target.encode())])


def run_edits(
    strategy: str,
    sources_dirs: Mapping[str, str | Path],
    instruments: Sequence[str],
    out_dir: str | Path,
    *,
    model: str,
    no_change_policy: str = "midpoint",
    seed: int = 0,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    classifier: str | Path | None = None,
    max_sources: int | None = None,
    only_items: Collection[str] | None = None,
) -> pd.DataFrame:
    """Edit every source of ``sources_dirs`` (instrument -> folder) into every other instrument.

    ``classifier``: the latent classifier checkpoint probe strategies read (needed only by them);
    ``only_items``: edit only these source items (the sweep: the tuning part); ``max_sources``: then only
    the first this many sources of each instrument.
    Writes ``out_dir/<source>_to_<target>/{<item>.wav, swaps.csv}`` and ``out_dir/nfe.json``;
    returns the swaps of all pairs.
    """
    from difftone.models import load_sao

    out_dir = Path(out_dir)
    editor = Editor(load_sao(model, dtype=dtype, device=device), progress=False)
    probing = needs_probe(strategy)
    probe_classifier = None
    if probing and strategy.partition(":")[0] == "probe":
        if classifier is None:
            raise ExperimentError(f"strategy {strategy} probes the target prompt with the latent classifier: "
                                  "pass its checkpoint (results/classifiers/distilled)")
        from difftone.classifiers import load_latent_classifier

        probe_classifier = load_latent_classifier(classifier, device=device)
    swaps: dict[tuple[str, str], list[dict]] = {(s, t): [] for s in instruments for t in instruments if s != t}
    n_sources = 0
    for source in instruments:
        items = read_sources(sources_dirs[source])
        if only_items is not None:
            items = items[items["item"].isin(set(only_items))]
        if max_sources:
            items = items.head(int(max_sources))
        targets = [t for t in instruments if t != source]
        for row in tqdm(items.itertuples(), total=len(items), desc=f"{strategy} {source}", unit="source"):
            traj = Trajectory.load(row.trajectory)
            edits = _edit_source(editor, traj, row, source, targets, strategy, no_change_policy, seed, synonyms,
                                 probing, probe_classifier)
            for target, record, wave in edits:
                if wave is not None:
                    check_finite(wave, f"the edit of {row.item} to {target} ({strategy})")
                    name = f"{row.item}.wav"
                    audio.write(out_dir / pair_name(source, target) / name, wave.numpy(), traj.sample_rate)
                    record["audio"] = name
                swaps[(source, target)].append(record)
            n_sources += 1
    if n_sources == 0:
        raise ExperimentError(f"no source generations to edit for strategy {strategy}")
    frames = []
    for (source, target), records in swaps.items():
        df = pd.DataFrame(records, columns=SWAP_COLUMNS)
        folder = out_dir / pair_name(source, target)
        folder.mkdir(parents=True, exist_ok=True)
        df.to_csv(folder / "swaps.csv", index=False)
        frames.append(df.assign(source=source, target=target))
    probe_nfe = int(sum(r["probe_nfe"] for records in swaps.values() for r in records))
    nfe = {"strategy": strategy, "sources": n_sources, "edits": int(sum(len(r) for r in swaps.values())),
           "nfe": editor.nfe, "probe_nfe": probe_nfe, "denoiser_calls": editor.calls}
    (out_dir / "nfe.json").write_text(json.dumps(nfe, indent=1) + "\n")
    log.info("%s: %d edits of %d sources, %d NFE (%d batched denoiser calls)", strategy, nfe["edits"], n_sources,
             editor.nfe, editor.calls)
    return pd.concat(frames, ignore_index=True)


def _edit_source(editor: Editor, traj: Trajectory, row, source: str, targets: Sequence[str], strategy: str,
                 no_change_policy: str, seed: int, synonyms, probing: bool = False,
                 probe_classifier=None) -> list[tuple[str, dict, object]]:
    """All edits of one source (``row`` of its items.csv): (target, swaps.csv record, audio or None when skipped)."""
    item = row.item
    prompts = [swap_instrument(traj.prompt, source, t, synonyms) for t in targets]
    probes = [TargetProbe(editor, probe_classifier, traj, p) if probing else None for p in prompts]
    choices = [
        choose_swap_step(strategy, traj.trace, traj.steps, edit_rng(seed, item, t), no_change_policy, traj.sigmas,
                         target=t, probe=probe)
        for t, probe in zip(targets, probes)
    ]
    steps = [step for step, _ in choices]
    waves = editor.edit(traj, prompts, steps)
    probe_nfe = [probe.nfe if probe is not None else 0 for probe in probes]
    per_edit_nfe = [(traj.steps - s if s is not None else 0) + extra for s, extra in zip(steps, probe_nfe)]
    trace = json.dumps(traj.trace.top1) if traj.trace is not None else ""
    records = []
    for target, prompt, (step, reason), wave, nfe, extra in zip(targets, prompts, choices, waves, per_edit_nfe,
                                                                probe_nfe):
        records.append({
            "item": item, "prompt_index": int(row.prompt_index), "seed": traj.seed,
            "source_prompt": traj.prompt, "target_prompt": prompt,
            "swap_step": "" if step is None else int(step), "sigma": sigma_of(traj.sigmas, step), "reason": reason,
            "audio": "", "nfe": nfe, "probe_nfe": extra, "trace": trace,
        })
    return list(zip(targets, records, waves))
