"""Edits of one swap strategy over every ordered instrument pair.

One job loads the model once, walks the source generations, picks each edit's swap
step with the strategy, and resumes each source's cached trajectory for all its
targets at once (targets that swap at the same step run as one batch: under
``difftone``, ``midpoint``, ``fixed:K`` and ``sigma:S`` that is all of them).

The edits of ``sources_per_batch`` sources at a time are one call of the edit step
(:func:`difftone.engine.edit`): edits of different sources that resume at the same
step share a DiT batch of at most ``batch_size`` samples (``edits.batch_size``).
Strategies whose spec needs a probe (``agree``, ``probe``) first run the target prompt on
the source's cached noisy latents (``probe`` reads it with the distilled latent
classifier); those denoiser evaluations are counted per edit (``probe_nfe`` in
``swaps.csv``, included in ``nfe``) and in ``nfe.json``. ``fallback`` in ``swaps.csv``:
``swap.no_change_policy`` decided the step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import EditOptions, Editor, EditRecord, Trajectory, edit, edit_rng, strategy_spec
from difftone.experiment.items import SWAP_COLUMNS, ExperimentError, check_finite, pair_name
from difftone.experiment.sources import read_sources
from difftone.models import ModelSettings

log = logging.getLogger(__name__)


__all__ = ["edit_rng", "run_edits", "swap_record"]


def run_edits(
    strategy: str,
    sources_dirs: Mapping[str, str | Path],
    instruments: Sequence[str],
    out_dir: str | Path,
    *,
    model: ModelSettings | Mapping | str,
    options: EditOptions | None = None,
    classifier: str | Path | None = None,
    max_sources: int | None = None,
    only_items: Collection[str] | None = None,
    source_instruments: Sequence[str] | None = None,
    target_guidance_scale: float | None = None,
    window: Mapping | None = None,
    batch_size: int | None = 16,
    sources_per_batch: int = 8,
) -> pd.DataFrame:
    """Edit every source of ``sources_dirs`` (instrument -> folder) into every other instrument.

    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec);
    ``options``: the edit step's settings (no-change policy, seed, synonyms); ``classifier``: the latent classifier checkpoint probe strategies read (needed only by them), reading
    x0_hat longer than its training clip as windows of ``window`` (``classifiers.window``: hop, aggregate);
    ``only_items``: edit only these source items (the sweep: the tuning part); ``max_sources``: then only
    the first this many sources of each instrument;
    ``source_instruments``: edit only the sources of these instruments (into every other instrument; one
    workflow job per strategy and source instrument), default all.
    ``target_guidance_scale``: the guidance of the edited steps instead of the trajectory's own
    (Table IV's ZETA row shares the inversion of the other rows).
    ``batch_size``: most samples per DiT batch (``edits.batch_size``); ``sources_per_batch``: sources whose
    edits run together (``edits.sources_per_batch``).
    Writes ``out_dir/<source>_to_<target>/{<item>.wav, swaps.csv}`` and ``out_dir/nfe.json``;
    returns the swaps of all pairs.
    """
    out_dir = Path(out_dir)
    if int(sources_per_batch) < 1:
        raise ExperimentError(f"edits.sources_per_batch must be at least 1, got {sources_per_batch}")
    model = ModelSettings.of(model)
    options = options or EditOptions()
    editor = Editor(model.load(), progress=False, batch_size=batch_size)
    if strategy_spec(strategy).probe_classifier:
        if classifier is None:
            raise ExperimentError(
                f"strategy {strategy} probes the target prompt with the latent classifier: "
                "pass its checkpoint (results/classifiers/distilled)"
            )
        from difftone.classifiers import load_latent_classifier

        options = dataclasses.replace(
            options, probe_classifier=load_latent_classifier(classifier, device=model.device, window=window)
        )
    selected = list(source_instruments) if source_instruments is not None else list(instruments)
    unknown = sorted(set(selected) - set(instruments))
    if unknown:
        raise ExperimentError(f"source instrument(s) {unknown} are not in the instruments {list(instruments)}")
    swaps: dict[tuple[str, str], list[dict]] = {(s, t): [] for s in selected for t in instruments if s != t}
    n_sources = 0
    for source in selected:
        items = read_sources(sources_dirs[source])
        if only_items is not None:
            items = items[items["item"].isin(set(only_items))]
        if max_sources:
            items = items.head(int(max_sources))
        targets = [t for t in instruments if t != source]
        rows = list(items.itertuples())
        bar = tqdm(total=len(rows), desc=f"{strategy} {source}", unit="source")
        for start in range(0, len(rows), int(sources_per_batch)):
            chunk = rows[start : start + int(sources_per_batch)]
            trajs = [Trajectory.load(row.trajectory) for row in chunk]
            if target_guidance_scale is not None:
                trajs = [dataclasses.replace(t, target_guidance_scale=float(target_guidance_scale)) for t in trajs]
            per_source = edit(
                editor, trajs, [source] * len(chunk), targets, strategy, options, item=[row.item for row in chunk]
            )
            for row, traj, records in zip(chunk, trajs, per_source):
                for done in records:
                    record = swap_record(done, traj, row)
                    if done.audio is not None:
                        check_finite(done.audio, f"the edit of {row.item} to {done.target} ({strategy})")
                        name = f"{row.item}.wav"
                        audio.write(
                            out_dir / pair_name(source, done.target) / name, done.audio.numpy(), traj.sample_rate
                        )
                        record["audio"] = name
                    swaps[(source, done.target)].append(record)
                n_sources += 1
            bar.update(len(chunk))
        bar.close()
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
    nfe = {
        "strategy": strategy,
        "sources": n_sources,
        "edits": int(sum(len(r) for r in swaps.values())),
        "nfe": editor.nfe,
        "probe_nfe": probe_nfe,
        "denoiser_calls": editor.calls,
    }
    (out_dir / "nfe.json").write_text(json.dumps(nfe, indent=1) + "\n")
    log.info(
        "%s: %d edits of %d sources, %d NFE (%d batched denoiser calls)",
        strategy,
        nfe["edits"],
        n_sources,
        editor.nfe,
        editor.calls,
    )
    return pd.concat(frames, ignore_index=True)


def swap_record(edit: EditRecord, traj: Trajectory, row) -> dict:
    """The swaps.csv row of one edit of the source ``row`` (its items.csv row); ``audio`` is filled by the caller."""
    return {
        "item": row.item,
        "prompt_index": int(row.prompt_index),
        "seed": traj.seed,
        "source_prompt": traj.prompt,
        "target_prompt": edit.target_prompt,
        "swap_step": "" if edit.swap_step is None else int(edit.swap_step),
        "sigma": edit.sigma,
        "reason": edit.reason,
        "audio": "",
        "nfe": edit.nfe,
        "probe_nfe": edit.probe_nfe,
        "fallback": bool(edit.fallback),
        "trace": json.dumps(traj.trace.top1) if traj.trace is not None else "",
    }
