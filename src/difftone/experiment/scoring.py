"""Metrics of the edits: per item, then per pair (paper section V-E).

- ``chroma``: :func:`difftone.metrics.chroma_distance` between edit and source
  (lower: the content is kept);
- ``inst_acc``: the teacher's top-1 on the edit equals the target instrument;
- ``judge_acc``: the same by the independent judge (:mod:`difftone.classifiers.judge`),
  which shares nothing with the teacher or the step selector (empty without a judge);
- ``kad``: KAD of the CLAP embeddings of a pair's edits against the target
  instrument's training clips (bandwidth: ``metrics.kad.bandwidth``); optional per
  call (``kad=False``: the sweep's many strategies skip CLAP); the edits' embeddings
  are saved (``embeddings_npz``) so that the tables recompute KAD on the test part;
- ``fallback``: the strategy found no step and its no-change policy chose it
  (``swaps.csv``'s ``fallback`` column, or a ``reason`` naming a policy); items a
  policy skipped are listed in ``skipped_csv``;
- ``success``: the edit kept the content *and* reached the target: ``inst_acc`` and
  ``chroma <= max_chroma`` (config ``metrics.success.max_chroma``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.experiment.items import SWAP_COLUMNS, ExperimentError, check_finite, pair_name, read_table
from difftone.experiment.sources import read_sources
from difftone.files import read_csv
from difftone.metrics import SourceChromagrams, bootstrap_ci, kad_bootstrap_ci
from difftone.metrics.clap import check_not_collapsed, load_clap, load_embeddings, save_embeddings

log = logging.getLogger(__name__)

ITEM_COLUMNS = [
    "strategy",
    "source",
    "target",
    "item",
    "swap_step",
    "sigma",
    "chroma",
    "predicted",
    "inst_acc",
    "success",
    "judge_predicted",
    "judge_acc",
    "fallback",
    "reason",
]
SKIPPED_COLUMNS = ["strategy", "source", "target", "item", "reason"]
PAIR_COLUMNS = [
    "strategy",
    "source",
    "target",
    "n",
    "skipped",
    "swap_step_mean",
    "chroma",
    "chroma_low",
    "chroma_high",
    "inst_acc",
    "inst_acc_low",
    "inst_acc_high",
    "success",
    "success_low",
    "success_high",
    "kad",
    "kad_low",
    "kad_high",
]


def fallback_flags(swaps: pd.DataFrame) -> pd.Series:
    """Per swaps.csv row: True where the no-change policy chose the step (a fallback, not the strategy's own
    choice). Uses the ``fallback`` column when the edit stage wrote one, else a ``reason`` naming a policy."""
    if "fallback" in swaps.columns:
        return swaps["fallback"].astype(str).str.lower().isin(["true", "1", "1.0"])
    return swaps["reason"].astype(str).str.contains("policy", regex=False)


def edit_label(item: str, target: str) -> str:
    """The name of one edit (a source item edited into a target) in embedding files."""
    return f"{item}|{target}"


def edit_success(inst_acc: float, chroma: float, max_chroma: float) -> float:
    """1.0 when an edit reached the target instrument and kept the source's pitch content
    (chroma distance at most ``max_chroma``), else 0.0."""
    return float(bool(inst_acc) and chroma <= max_chroma)


def item_row(
    strategy: str,
    source: str,
    target: str,
    item: str,
    swap_step,
    sigma: float,
    chroma: float,
    predicted: str,
    max_chroma: float,
    *,
    judged: str | None = None,
    fallback: bool = False,
    reason: str = "",
) -> dict:
    """One row of ``items.csv`` (:data:`ITEM_COLUMNS`): ``inst_acc`` is 1.0 when the teacher's top-1
    ``predicted`` is the target, ``success`` is :func:`edit_success`, ``judge_acc`` the same for the
    judge's reading ``judged`` (NaN without a judge)."""
    reached = float(predicted == target)
    return {
        "strategy": strategy,
        "source": source,
        "target": target,
        "item": item,
        "swap_step": swap_step,
        "sigma": sigma,
        "chroma": chroma,
        "predicted": predicted,
        "inst_acc": reached,
        "success": edit_success(reached, chroma, max_chroma),
        "judge_predicted": "" if judged is None else judged,
        "judge_acc": np.nan if judged is None else float(judged == target),
        "fallback": bool(fallback),
        "reason": reason,
    }


def embed_references(
    index_csv: str | Path, instruments: Sequence[str], out_npz: str | Path, *, clap: Mapping, device: str = "cpu"
) -> None:
    """CLAP embeddings of every instrument's training clips: the KAD reference sets."""
    from difftone.data import read_index

    index = read_index(index_csv, split="train")
    embedder = _clap(clap, device)
    embs, labels = [], []
    for code in instruments:
        paths = index.loc[index["instrument"] == code, "path"].tolist()
        if len(paths) < 2:
            raise ExperimentError(
                f"{index_csv}: instrument {code} has {len(paths)} training clip(s); KAD needs "
                "at least 2: add data or remove it from `instruments`"
            )
        emb, _ = embedder.embed_files(paths, desc=f"CLAP reference {code}")
        check_not_collapsed(emb, f"CLAP reference set of {code}", clap["max_median_cosine"])
        embs.append(emb)
        labels.append(np.full(len(emb), code))
    save_embeddings(out_npz, np.concatenate(embs), np.concatenate(labels), {"clap": dict(clap)})


def _clap(clap: Mapping, device: str):
    return load_clap(
        clap["checkpoint"],
        device=device,
        cache_dir=clap.get("cache_dir"),
        window_s=clap["window_s"],
        hop_s=clap["hop_s"],
        batch_size=clap["batch_size"],
        architecture=clap.get("architecture", "laion_music"),
        sha256=clap.get("sha256"),
    )


def score_edits(
    strategy: str,
    edits_dir: str | Path,
    sources_dirs: Mapping[str, str | Path],
    instruments: Sequence[str],
    reference_npz: str | Path,
    teacher: str | Path,
    items_csv: str | Path,
    pairs_csv: str | Path,
    *,
    clap: Mapping,
    chroma: Mapping,
    bootstrap: Mapping,
    success: Mapping | None = None,
    kad: bool = True,
    kad_bandwidth: str | float | None = "candidate",
    mert_spec: str | None = None,
    device: str = "cpu",
    judge=None,
    skipped_csv: str | Path | None = None,
    embeddings_npz: str | Path | None = None,
    window=None,
    pairs: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Score every edit of one strategy; write the per-item and per-pair tables.

    ``success``: ``{"max_chroma": d}`` (config ``metrics.success``); ``kad``: False skips CLAP and KAD
    (the columns are then empty); ``judge``: a loaded judge (:func:`difftone.classifiers.judge.load_judge`)
    for ``judge_acc``; ``skipped_csv``/``embeddings_npz``: where the skipped items and the edits' CLAP
    embeddings go (the tables read them); ``window``: ``classifiers.window``, how the teacher reads edits
    longer than its training clip; ``pairs``: the (source, target) pairs edited (default: every
    ordered pair of ``instruments``; Table III's MusicMagus edits only its three)."""
    from difftone.classifiers import load_teacher_classifier

    edits_dir = Path(edits_dir)
    max_chroma = float((success or {}).get("max_chroma", 0.5))
    classifier = load_teacher_classifier(teacher, mert_spec, device=device, window=window)
    embedder = _clap(clap, device) if kad else None
    ref_emb, ref_label = load_embeddings(reference_npz)[:2] if kad else (None, None)
    pairs = [(s, t) for s in instruments for t in instruments if s != t] if pairs is None else [tuple(p) for p in pairs]
    sources = {code: read_sources(sources_dirs[code]).set_index("item") for code in dict.fromkeys(s for s, _ in pairs)}
    item_rows, pair_rows, skipped_rows = [], [], []
    all_embs, all_labels = [], []
    source_chroma = SourceChromagrams(
        method=chroma["method"], target_sr=chroma["sample_rate"], hop_length=chroma["hop_length"]
    )
    for source, target in tqdm(pairs, desc=f"metrics {strategy}", unit="pair"):
        folder = edits_dir / pair_name(source, target)
        swaps = read_table(folder / "swaps.csv", SWAP_COLUMNS[:-1], f"edit ({strategy})")
        swaps = swaps.assign(fallback=fallback_flags(swaps))
        done = swaps[swaps["audio"] != ""]
        skipped_rows += [
            {"strategy": strategy, "source": source, "target": target, "item": r.item, "reason": r.reason}
            for r in swaps[swaps["audio"] == ""].itertuples()
        ]
        embs, groups, rows = [], [], []
        for r in done.itertuples():
            wave, sr = audio.load(folder / r.audio)
            check_finite(wave, f"{folder / r.audio}")
            probs = classifier.predict_audio(wave, sr)[0]
            predicted = classifier.instruments[int(probs.argmax())]
            source_audio = sources[source].loc[r.item, "audio"]
            distance = source_chroma.distance(wave, sr, source_audio, lambda: audio.load(source_audio))
            judged = judge.predict_audio(wave, sr) if judge is not None else None
            rows.append(
                item_row(
                    strategy,
                    source,
                    target,
                    r.item,
                    r.swap_step,
                    r.sigma,
                    distance,
                    predicted,
                    max_chroma,
                    judged=judged,
                    fallback=bool(r.fallback),
                    reason=r.reason,
                )
            )
            if embedder is not None:
                e = embedder.embed(wave, sr)
                embs.append(e)
                groups.append(np.full(len(e), len(rows) - 1))
                all_embs.append(e)
                all_labels.append(np.full(len(e), edit_label(r.item, target)))
        item_rows.extend(rows)
        reference = ref_emb[ref_label == target] if kad else None
        pair_rows.append(
            pair_summary(
                strategy,
                source,
                target,
                rows,
                len(swaps) - len(done),
                embs,
                groups,
                reference,
                bootstrap,
                kad_bandwidth,
            )
        )
    if not item_rows:
        raise ExperimentError(f"{edits_dir}: strategy {strategy} has no edits to score (every item was skipped?)")
    items = pd.DataFrame(item_rows, columns=ITEM_COLUMNS)
    items.to_csv(items_csv, index=False)
    pd.DataFrame(pair_rows, columns=PAIR_COLUMNS).to_csv(pairs_csv, index=False)
    if skipped_csv is not None:
        pd.DataFrame(skipped_rows, columns=SKIPPED_COLUMNS).to_csv(skipped_csv, index=False)
    if embeddings_npz is not None:
        if not all_embs:
            raise ExperimentError(f"{embeddings_npz}: no CLAP embeddings to save (score_edits ran with kad=False)")
        save_embeddings(
            embeddings_npz,
            np.concatenate(all_embs),
            np.concatenate(all_labels),
            {"strategy": strategy, "clap": dict(clap)},
        )
    return items


def read_skipped(path: str | Path) -> pd.DataFrame:
    """``skipped.csv`` of a strategy (may have no rows)."""
    return read_csv(
        path, SKIPPED_COLUMNS, what="the metrics stage", error=ExperimentError, allow_empty=True, keep_default_na=False
    )


def pair_summary(
    strategy, source, target, rows, skipped, embs, groups, reference, bootstrap, kad_bandwidth="candidate"
) -> dict:
    """One row of ``pairs.csv`` (:data:`PAIR_COLUMNS`) from a pair's item ``rows``: the mean swap step,
    bootstrap means of chroma, inst_acc and success, and KAD of the CLAP embeddings ``embs`` (rows of
    item ``groups``) against ``reference`` with the ``kad_bandwidth`` rule (NaN under two items or
    without a reference); a pair with no rows (every item skipped) has NaN metrics."""
    out = {"strategy": strategy, "source": source, "target": target, "n": len(rows), "skipped": skipped}
    if not rows:
        return out | {c: np.nan for c in PAIR_COLUMNS if c not in out}
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    out["swap_step_mean"] = float(np.mean([float(r["swap_step"]) for r in rows]))
    for metric in ("chroma", "inst_acc", "success"):
        out[metric], out[f"{metric}_low"], out[f"{metric}_high"] = bootstrap_ci([r[metric] for r in rows], **boot)
    if len(rows) >= 2 and reference is not None and embs:
        out["kad"], out["kad_low"], out["kad_high"] = kad_bootstrap_ci(
            reference, np.concatenate(embs), np.concatenate(groups), kad_bandwidth, **boot
        )
    else:
        out["kad"] = out["kad_low"] = out["kad_high"] = np.nan
    return out
