"""Table II (strategies), the per-pair table and the paired comparisons, as CSV and Markdown.

Choices (docs/metrics.md repeats them where the tables are explained):

- **Test part only**: every table here reads only the test sources of
  ``results/sources/split.csv`` (:mod:`difftone.experiment.split`); the tuning sources
  belong to the sweep.
- **Same items for every strategy**: a strategy row is computed on the edits (source
  item, target) that *every* strategy of the table edited; an item a no-change policy
  skipped (``skip``) is left out of every row (``excluded`` counts what this row lost
  to the other strategies' skips, ``skipped`` this strategy's own).
- **Intervals over sources**: a source's edits share its audio and (for most
  strategies) its swap step, so every interval resamples source generations (all of a
  source's edits together; :func:`~difftone.metrics.cluster_bootstrap_ci`); KAD's too
  (:func:`~difftone.metrics.mean_kad_cluster_ci`: Table II's KAD is the mean over target
  instruments of the KAD of every edit into that target against its reference clips, the
  sources drawn once per resample for all targets). A KAD of fewer than
  :data:`KAD_MIN_ITEMS` edits (a pair of the per-pair table, Table III's pairs on the
  embedded default) is given without an interval.
- **Fallbacks in the open**: ``sources``, ``edits``, ``fallbacks`` (edits whose step
  the no-change policy chose) and ``skipped`` per row; ``difftone (changed)`` is
  difftone on the edits where its classifier did change its mind (no fallback).
- **Two judges**: ``inst_acc`` is the teacher's top-1 (related to the step selector,
  which was distilled from it); ``judge_acc`` an independent judge's
  (:mod:`difftone.classifiers.judge`); ``success`` uses the teacher.
- **Paired comparisons** (``paired.csv``): per strategy against ``difftone`` and
  ``midpoint``, the mean per-item difference over the same edits with a source-level
  interval. Only an interval that excludes 0 supports "A differs from B".

``nfe_per_edit`` is the denoiser evaluations an edit cost on average (probes included;
``probe_nfe_per_edit`` the probes' share).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from difftone.experiment.items import ExperimentError, read_table
from difftone.experiment.scoring import ITEM_COLUMNS, edit_label, read_skipped
from difftone.experiment.split import part_items, restrict_to_part
from difftone.metrics import cluster_bootstrap_ci, kad, load_embeddings, mean_kad_cluster_ci, paired_difference_ci

METRICS = ("chroma", "inst_acc", "judge_acc", "success")
TABLE2_COLUMNS = [
    "method",
    "chroma",
    "chroma_low",
    "chroma_high",
    "kad",
    "kad_low",
    "kad_high",
    "inst_acc",
    "inst_acc_low",
    "inst_acc_high",
    "judge_acc",
    "judge_acc_low",
    "judge_acc_high",
    "success",
    "success_low",
    "success_high",
    "sources",
    "edits",
    "fallbacks",
    "skipped",
    "excluded",
    "swap_step_mean",
    "sigma_median",
    "nfe_per_edit",
    "probe_nfe_per_edit",
]
PER_PAIR_COLUMNS = ["strategy", "source", "target", "n", "skipped", "swap_step_mean"] + [
    f"{m}{x}" for m in METRICS + ("kad",) for x in ("", "_low", "_high")
]
PAIRED_COLUMNS = [
    "strategy",
    "baseline",
    "metric",
    "edits",
    "sources",
    "strategy_mean",
    "baseline_mean",
    "difference",
    "low",
    "high",
    "excludes_zero",
]
PAIRED_METRICS = ("success", "chroma", "inst_acc", "judge_acc")
BASELINES = ("difftone", "midpoint")
CHANGED_SUFFIX = " (changed)"


def write_csv_and_markdown(df: pd.DataFrame, csv_path: str | Path, floatfmt: str = ".3f") -> None:
    """``df`` as CSV and, beside it, as a Markdown table (same name, ``.md``)."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    csv_path.with_suffix(".md").write_text(to_markdown(df, floatfmt) + "\n")


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _boot(bootstrap: Mapping) -> dict:
    return {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}


def _interval(df: pd.DataFrame, metric: str, boot: Mapping) -> tuple[float, float, float]:
    values = pd.to_numeric(df[metric], errors="coerce")
    ok = values.notna().to_numpy()
    if not ok.any():
        return np.nan, np.nan, np.nan
    return cluster_bootstrap_ci(values[ok].to_numpy(), df["item"].to_numpy()[ok], **boot)


def load_test_items(
    items_csvs: Mapping[str, str | Path], skipped_csvs: Mapping[str, str | Path], split_csv: str | Path
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, int]]:
    """Per strategy: its test-part edits restricted to the edits every strategy has, its own skipped test
    items, and how many of its test edits were excluded because another strategy skipped them."""
    items, skipped = {}, {}
    test = part_items(split_csv, "test")
    for strategy, path in items_csvs.items():
        df = read_table(path, ITEM_COLUMNS, f"metrics ({strategy})")
        items[strategy] = restrict_to_part(df, split_csv, "test", str(path))
        sk = (
            read_skipped(skipped_csvs[strategy]) if skipped_csvs else pd.DataFrame(columns=["item", "source", "target"])
        )
        skipped[strategy] = sk[sk["item"].isin(test)]
    keys = {s: set(zip(df["item"], df["target"])) for s, df in items.items()}
    common = set.intersection(*keys.values())
    if not common:
        raise ExperimentError(
            "no edit (source item, target) was made by every strategy on the test sources: "
            "nothing to compare (every item skipped?)"
        )
    excluded = {}
    for strategy, df in items.items():
        keep = [k in common for k in zip(df["item"], df["target"])]
        excluded[strategy] = int(len(df) - sum(keep))
        items[strategy] = df[keep].reset_index(drop=True)
    return items, skipped, excluded


# A KAD interval needs this many edits in each set: an edit's several CLAP windows are pairs within one item,
# and a resample of n items weighs them about (n - 1) / (n - 2) times their share in the set (3 edits: twice,
# which put Table II's KAD below its own interval); from 10 edits the bias is a few percent.
KAD_MIN_ITEMS = 10


def _kad_sets(
    items: pd.DataFrame, embeddings_npz, reference: tuple[np.ndarray, np.ndarray], by: Sequence[str] = ("target",)
):
    """Per group of ``items`` (``by``: ``target``, the target instrument's edits from every source, as the paper
    takes one reference set per instrument; or ``source, target``, a pair): (reference set of the target, the
    group's edit embeddings, their source items); and the groups' keys."""
    emb, labels, _ = load_embeddings(embeddings_npz)
    ref_emb, ref_label = reference
    sets, keys = [], []
    for key, df in items.groupby(list(by), sort=True):
        wanted = {edit_label(i, t): i for i, t in zip(df["item"], df["target"])}
        rows = np.flatnonzero(np.isin(labels, list(wanted)))
        if len(np.unique(labels[rows])) < 2:
            continue
        target = df["target"].iloc[0]
        sets.append((ref_emb[ref_label == target], emb[rows], np.array([wanted[str(label)] for label in labels[rows]])))
        keys.append(key if isinstance(key, tuple) and len(key) > 1 else (key[0] if isinstance(key, tuple) else key))
    return sets, keys


def kad_with_interval(sets, bandwidth, boot: Mapping) -> tuple[float, float, float]:
    """Mean KAD over ``sets`` with its source-level interval; the interval is left empty (NaN) when a set has
    fewer than :data:`KAD_MIN_ITEMS` edits (the bootstrap of so few items is biased, see above)."""
    if min(len(np.unique(labels_of)) for _, _, labels_of in sets) < KAD_MIN_ITEMS:
        return float(np.mean([kad(ref, cand, bandwidth) for ref, cand, _ in sets])), np.nan, np.nan
    return mean_kad_cluster_ci(sets, bandwidth, **boot)


def _strategy_row(
    method: str,
    df: pd.DataFrame,
    boot: Mapping,
    *,
    skipped: int,
    excluded: int,
    nfe: Mapping | None,
    kad_sets,
    kad_bandwidth,
) -> dict:
    row = {
        "method": method,
        "sources": int(df["item"].nunique()),
        "edits": len(df),
        "fallbacks": int(df["fallback"].astype(str).str.lower().isin(["true", "1"]).sum()),
        "skipped": skipped,
        "excluded": excluded,
        "swap_step_mean": float(pd.to_numeric(df["swap_step"]).mean()),
        "sigma_median": float(pd.to_numeric(df["sigma"]).median()),
    }
    if nfe is not None:
        row["nfe_per_edit"] = nfe["nfe"] / max(nfe["edits"], 1)
        row["probe_nfe_per_edit"] = nfe.get("probe_nfe", 0) / max(nfe["edits"], 1)
    for metric in METRICS:
        row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = _interval(df, metric, boot)
    if kad_sets:
        row["kad"], row["kad_low"], row["kad_high"] = kad_with_interval(kad_sets, kad_bandwidth, boot)
    return row


def strategy_table(
    items: Mapping[str, pd.DataFrame],
    skipped: Mapping[str, pd.DataFrame],
    excluded: Mapping[str, int],
    nfe_jsons: Mapping[str, str | Path],
    bootstrap: Mapping,
    *,
    embeddings: Mapping[str, str | Path] | None = None,
    reference_npz: str | Path | None = None,
    kad_bandwidth: str | float | None = "candidate",
) -> pd.DataFrame:
    """Table II: one row per strategy (in order) on the common test edits (:func:`load_test_items`), and
    ``difftone (changed)`` after difftone."""
    boot = _boot(bootstrap)
    reference = load_embeddings(reference_npz)[:2] if embeddings and reference_npz else None
    rows = []
    for strategy, df in items.items():
        nfe = json.loads(Path(nfe_jsons[strategy]).read_text()) if strategy in nfe_jsons else None
        sets = _kad_sets(df, embeddings[strategy], reference)[0] if reference is not None else []
        rows.append(
            _strategy_row(
                strategy,
                df,
                boot,
                skipped=len(skipped[strategy]),
                excluded=excluded[strategy],
                nfe=nfe,
                kad_sets=sets,
                kad_bandwidth=kad_bandwidth,
            )
        )
        if strategy == "difftone":
            changed = df[~df["fallback"].astype(str).str.lower().isin(["true", "1"])]
            if len(changed):
                sets = _kad_sets(changed, embeddings[strategy], reference)[0] if reference is not None else []
                rows.append(
                    _strategy_row(
                        strategy + CHANGED_SUFFIX,
                        changed,
                        boot,
                        skipped=0,
                        excluded=len(df) - len(changed),
                        nfe=None,
                        kad_sets=sets,
                        kad_bandwidth=kad_bandwidth,
                    )
                )
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def per_pair_table(
    items: Mapping[str, pd.DataFrame],
    skipped: Mapping[str, pd.DataFrame],
    bootstrap: Mapping,
    *,
    embeddings: Mapping[str, str | Path] | None = None,
    reference_npz: str | Path | None = None,
    kad_bandwidth: str | float | None = "candidate",
) -> pd.DataFrame:
    """One row per (strategy, source, target) on the common test edits; intervals over sources (here one edit
    per source, so this is the bootstrap over edits)."""
    boot = _boot(bootstrap)
    reference = load_embeddings(reference_npz)[:2] if embeddings and reference_npz else None
    rows = []
    for strategy, df in items.items():
        kads = {}
        if reference is not None:
            sets, pairs = _kad_sets(df, embeddings[strategy], reference, by=("source", "target"))
            for one, pair in zip(sets, pairs):
                kads[pair] = kad_with_interval([one], kad_bandwidth, boot)
        sk = skipped[strategy]
        for (source, target), g in df.groupby(["source", "target"], sort=True):
            row = {
                "strategy": strategy,
                "source": source,
                "target": target,
                "n": len(g),
                "skipped": int(((sk["source"] == source) & (sk["target"] == target)).sum()) if len(sk) else 0,
                "swap_step_mean": float(pd.to_numeric(g["swap_step"]).mean()),
            }
            for metric in METRICS:
                row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = _interval(g, metric, boot)
            row["kad"], row["kad_low"], row["kad_high"] = kads.get((source, target), (np.nan,) * 3)
            rows.append(row)
    return pd.DataFrame(rows, columns=PER_PAIR_COLUMNS).sort_values(["strategy", "source", "target"], kind="stable")


def paired_table(
    items: Mapping[str, pd.DataFrame], bootstrap: Mapping, baselines: Sequence[str] = BASELINES
) -> pd.DataFrame:
    """Every strategy against each present baseline: mean per-edit difference (strategy - baseline) of each
    metric over the same edits, with a source-level interval. For chroma lower is better; for the others
    higher."""
    boot = _boot(bootstrap)
    rows = []
    for baseline in baselines:
        if baseline not in items:
            continue
        base = items[baseline][["item", "target", *PAIRED_METRICS]]
        for strategy, df in items.items():
            if strategy == baseline:
                continue
            joined = df.merge(base, on=["item", "target"], how="inner", suffixes=("", "_base"))
            for metric in PAIRED_METRICS:
                a = pd.to_numeric(joined[metric], errors="coerce")
                b = pd.to_numeric(joined[f"{metric}_base"], errors="coerce")
                ok = (a.notna() & b.notna()).to_numpy()
                if not ok.any():
                    continue
                d, low, high = paired_difference_ci(
                    a[ok].to_numpy(), b[ok].to_numpy(), joined["item"].to_numpy()[ok], **boot
                )
                rows.append(
                    {
                        "strategy": strategy,
                        "baseline": baseline,
                        "metric": metric,
                        "edits": int(ok.sum()),
                        "sources": int(joined["item"][ok].nunique()),
                        "strategy_mean": float(a[ok].mean()),
                        "baseline_mean": float(b[ok].mean()),
                        "difference": d,
                        "low": low,
                        "high": high,
                        "excludes_zero": bool(low > 0 or high < 0),
                    }
                )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def write_tables(
    items_csvs: Mapping[str, str | Path],
    skipped_csvs: Mapping[str, str | Path],
    nfe_jsons: Mapping[str, str | Path],
    split_csv: str | Path,
    table2_csv: str | Path,
    per_pair_csv: str | Path,
    paired_csv: str | Path,
    bootstrap: Mapping,
    *,
    embeddings: Mapping[str, str | Path] | None = None,
    reference_npz: str | Path | None = None,
    kad_bandwidth: str | float | None = "candidate",
) -> pd.DataFrame:
    """Table II, the per-pair table and the paired comparisons (CSV + Markdown) on the test sources."""
    items, skipped, excluded = load_test_items(items_csvs, skipped_csvs, split_csv)
    kad = {"embeddings": embeddings, "reference_npz": reference_npz, "kad_bandwidth": kad_bandwidth}
    table2 = strategy_table(items, skipped, excluded, nfe_jsons, bootstrap, **kad)
    write_csv_and_markdown(table2, table2_csv)
    write_csv_and_markdown(per_pair_table(items, skipped, bootstrap, **kad), per_pair_csv)
    write_csv_and_markdown(paired_table(items, bootstrap), paired_csv)
    return table2
