"""The swap-step sweep (the paper's Figure 2 argument made quantitative).

Every sweep point is a ``fixed:K`` strategy edited and scored by the ordinary stage
functions (:func:`~difftone.experiment.edits.run_edits` on the **tuning** sources of
``results/sources/split.csv`` only, at most ``sources_per_instrument`` per instrument:
thresholds read off the sweep never saw a test source,
:func:`~difftone.experiment.scoring.score_edits` without KAD), all points in one job
(:func:`run_sweep`: on the embedded default a job's start-up costs as much as a
point). Layout: ``results/sweep/<fixed-K>/`` (the edit folders of that point and
``items.csv``/``pairs.csv``). This module then pools the per-item metrics into ``results/tables/sweep.csv`` (+ ``.md``): one row
per (swap step, pair) and one pooled row per step (``source`` = ``target`` = ``all``),
each with the step, its noise level sigma, chroma distance, target accuracy and
success with percentile bootstrap intervals over sources (all of a source's edits
resampled together), and ``n``; and the figure
``results/figures/sweep.png``: the metrics against the swap step (sigma on the top
axis), pooled with intervals and per pair as thin lines. ``chroma_reference`` gives
the chroma distance between two *different* sources of the same instrument: the
level of "the music changed", against which ``metrics.success.max_chroma`` is set
(tuning sources only, too).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from difftone import audio
from difftone.experiment.items import ExperimentError, read_table
from difftone.experiment.scoring import ITEM_COLUMNS
from difftone.experiment.sources import read_sources
from difftone.experiment.split import part_items
from difftone.experiment.tables import write_csv_and_markdown
from difftone.files import atomic_path
from difftone.metrics import bootstrap_ci, chroma_distance, cluster_bootstrap_ci

if TYPE_CHECKING:
    from difftone.models import ModelSettings

log = logging.getLogger(__name__)

METRICS = ("chroma", "inst_acc", "success")
SWEEP_COLUMNS = ["strategy", "step", "sigma", "source", "target", "n"] + [
    f"{m}{suffix}" for m in METRICS for suffix in ("", "_low", "_high")
]
REFERENCE_COLUMNS = ["instrument", "n", "chroma", "chroma_low", "chroma_high", "sources"]


def sweep_table(
    items_csvs: Mapping[str, str | Path], bootstrap: Mapping, split_csv: str | Path | None = None
) -> pd.DataFrame:
    """Per-pair and pooled rows of every sweep strategy (``items_csvs``: strategy -> its items.csv); with
    ``split_csv``, an item that is not a tuning source is an error."""
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    rows = []
    tuning = part_items(split_csv, "tuning") if split_csv is not None else None
    for strategy, path in items_csvs.items():
        items = read_table(path, ITEM_COLUMNS, f"metrics ({strategy})")
        if tuning is not None and not items["item"].isin(tuning).all():
            bad = sorted(set(items["item"]) - tuning)
            raise ExperimentError(f"{path}: the sweep read non-tuning source(s) {bad[:3]}; rerun rule sweep_swap_steps")
        step = float(items["swap_step"].astype(float).mean())
        sigma = float(items["sigma"].astype(float).median())
        groups = [(("all", "all"), items)] + list(items.groupby(["source", "target"], sort=True))
        for (source, target), df in groups:
            row = {"strategy": strategy, "step": step, "sigma": sigma, "source": source, "target": target, "n": len(df)}
            for m in METRICS:
                row[m], row[f"{m}_low"], row[f"{m}_high"] = cluster_bootstrap_ci(
                    df[m].astype(float), df["item"], **boot
                )
            rows.append(row)
    if not rows:
        raise ExperimentError("the sweep has no strategies: set sweep.steps in the config")
    table = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
    table["pooled"] = table["source"] == "all"
    table = table.sort_values(
        ["pooled", "step", "source", "target"], ascending=[False, True, True, True], kind="stable"
    )
    return table.drop(columns="pooled").reset_index(drop=True)


def chroma_reference(
    sources_dirs: Mapping[str, str | Path],
    chroma: Mapping,
    bootstrap: Mapping,
    max_pairs: int = 20,
    only_items: set[str] | None = None,
) -> pd.DataFrame:
    """Chroma distance between two sources of the same instrument generated from *different seeds*, per
    instrument and pooled (``all``): the distance of music that shares nothing but the instrument (sources
    of one seed start from the same noise and share much of their pitch content). With a single seed, all
    pairs are used. Up to ``max_pairs`` pairs each; ``only_items``: only these sources (the tuning part).
    When no instrument has two of them (one tuning source each, as in the default split), every
    source is used, with a warning: the reference compares generations only, no edit (column ``sources``)."""
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    rows, pooled = [], []
    for code, folder in sources_dirs.items():
        items = read_sources(folder)
        if only_items is not None:
            items = items[items["item"].isin(only_items)]
        paths, seeds = items["audio"].tolist(), dict(zip(items["audio"], items["seed"]))
        waves = {p: audio.load(p) for p in paths}
        pairs = list(itertools.combinations(paths, 2))
        if len(set(seeds.values())) > 1:
            pairs = [(a, b) for a, b in pairs if seeds[a] != seeds[b]]
        dists = []
        for a, b in pairs[:max_pairs]:
            (wa, sra), (wb, srb) = waves[a], waves[b]
            dists.append(
                chroma_distance(
                    wa,
                    wb,
                    sra,
                    source_sr=srb,
                    method=chroma["method"],
                    target_sr=chroma["sample_rate"],
                    hop_length=chroma["hop_length"],
                )
            )
        if dists:
            est, low, high = bootstrap_ci(dists, **boot)
            rows.append({"instrument": code, "n": len(dists), "chroma": est, "chroma_low": low, "chroma_high": high})
            pooled.extend(dists)
    if not pooled and only_items is not None:
        log.warning("chroma reference: no instrument has two tuning sources; using all sources (generations only)")
        return chroma_reference(sources_dirs, chroma, bootstrap, max_pairs=max_pairs)
    if not pooled:
        raise ExperimentError("chroma reference: every instrument has a single source; add prompts or seeds")
    est, low, high = bootstrap_ci(pooled, **boot)
    rows.insert(0, {"instrument": "all", "n": len(pooled), "chroma": est, "chroma_low": low, "chroma_high": high})
    table = pd.DataFrame(rows, columns=REFERENCE_COLUMNS)
    table["sources"] = "all" if only_items is None else "tuning"
    return table


def sweep_figure(
    table: pd.DataFrame,
    figure: str | Path,
    steps: int | None = None,
    max_chroma: float | None = None,
    different_sources: float | None = None,
) -> Path:
    """Chroma distance (left) and target accuracy / success (right) against the swap step: pooled with
    bootstrap intervals, each pair as a thin line (0/1 metrics: only with at least 3 edits per pair);
    sigma of each step on the top axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = Path(figure)
    figure.parent.mkdir(parents=True, exist_ok=True)
    pooled = table[table["source"] == "all"].sort_values("step")
    pairs = table[table["source"] != "all"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    panels = [
        (axes[0], ["chroma"], "chroma distance to the source (lower: content kept)"),
        (axes[1], ["inst_acc", "success"], "share of edits"),
    ]
    colors = {"chroma": "tab:blue", "inst_acc": "tab:orange", "success": "tab:green"}
    labels = {
        "chroma": "chroma distance",
        "inst_acc": "target reached (inst_acc)",
        "success": "content kept and target reached",
    }
    # a pair's share of 0/1 outcomes over one or two edits is noise: per-pair lines only for chroma then
    few = pairs["n"].median() < 3 if len(pairs) else True
    for ax, metrics, ylabel in panels:
        for m in metrics:
            for _, df in [] if few and m != "chroma" else pairs.groupby(["source", "target"]):
                df = df.sort_values("step")
                ax.plot(df["step"], df[m], color=colors[m], alpha=0.12, linewidth=0.8)
            ax.fill_between(pooled["step"], pooled[f"{m}_low"], pooled[f"{m}_high"], color=colors[m], alpha=0.25)
            ax.plot(pooled["step"], pooled[m], "o-", color=colors[m], label=f"{labels[m]} (all pairs, 95% CI)")
        ax.set_xlabel("swap step k (source prompt for steps < k)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if max_chroma is not None:
        axes[0].axhline(max_chroma, color="k", linestyle="--", linewidth=1, label=f"success threshold {max_chroma:g}")
    if different_sources is not None:
        axes[0].axhline(
            different_sources,
            color="tab:red",
            linestyle=":",
            linewidth=1.2,
            label=f"two different sources, same instrument ({different_sources:.2f})",
        )
    axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
        top = ax.secondary_xaxis("top")
        top.set_xticks(pooled["step"].tolist())
        top.set_xticklabels([f"{s:.2g}" for s in pooled["sigma"]], fontsize=7)
        top.set_xlabel("sigma at the swap", fontsize=8)
        if steps:
            ax.set_xlim(-0.5, steps + 0.5)
    fig.suptitle("Swap-step sweep: early swaps lose the content, late swaps miss the target", fontsize=10)
    fig.tight_layout()
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, dpi=120, format=figure.suffix[1:])
    plt.close(fig)
    return figure


def run_sweep(
    steps_grid: Sequence[int],
    sources_dirs: Mapping[str, str | Path],
    instruments: Sequence[str],
    teacher: str | Path,
    out_dir: str | Path,
    sweep_csv: str | Path,
    reference_csv: str | Path,
    figure: str | Path,
    *,
    split_csv: str | Path,
    model: ModelSettings | Mapping | str,
    sources_per_instrument: int | None,
    steps: int,
    chroma: Mapping,
    bootstrap: Mapping,
    success: Mapping,
    clap: Mapping | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    window=None,
) -> pd.DataFrame:
    """The sweep stage: edit and score ``fixed:K`` for every K of ``steps_grid``, then :func:`write_sweep`.
    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec; its device
    also runs the scoring)."""
    from difftone.engine import EditOptions
    from difftone.experiment.edits import run_edits
    from difftone.experiment.items import strategy_slug
    from difftone.experiment.scoring import score_edits
    from difftone.models import ModelSettings

    bad = [k for k in steps_grid if not 0 <= int(k) <= steps]
    if bad or not steps_grid:
        raise ExperimentError(
            f"sweep.steps must be a non-empty list of steps in [0, {steps}] (model.steps); got {list(steps_grid)}"
        )
    out_dir = Path(out_dir)
    model = ModelSettings.of(model)
    tuning = part_items(split_csv, "tuning")
    items_csvs = {}
    for k in sorted(int(k) for k in steps_grid):
        strategy = f"fixed:{k}"
        folder = out_dir / strategy_slug(strategy)
        log.info("sweep point %s", strategy)
        run_edits(
            strategy,
            sources_dirs,
            instruments,
            folder,
            model=model,
            options=EditOptions(seed=seed, synonyms=synonyms),
            max_sources=sources_per_instrument,
            only_items=tuning,
        )
        score_edits(
            strategy,
            folder,
            sources_dirs,
            instruments,
            None,
            teacher,
            folder / "items.csv",
            folder / "pairs.csv",
            clap=clap or {},
            chroma=chroma,
            bootstrap=bootstrap,
            success=success,
            kad=False,
            device=model.device,
            window=window,
        )
        items_csvs[strategy] = folder / "items.csv"
    return write_sweep(
        items_csvs,
        sources_dirs,
        sweep_csv,
        reference_csv,
        figure,
        chroma=chroma,
        bootstrap=bootstrap,
        max_chroma=success.get("max_chroma"),
        steps=steps,
        split_csv=split_csv,
    )


def write_sweep(
    items_csvs: Mapping[str, str | Path],
    sources_dirs: Mapping[str, str | Path],
    sweep_csv: str | Path,
    reference_csv: str | Path,
    figure: str | Path,
    *,
    chroma: Mapping,
    bootstrap: Mapping,
    max_chroma: float | None = None,
    steps: int | None = None,
    split_csv: str | Path | None = None,
) -> pd.DataFrame:
    """The sweep stage: ``sweep.csv`` (+ .md), the different-source chroma reference (+ .md) and the figure,
    on the tuning sources of ``split_csv`` (all sources without it)."""
    table = sweep_table(items_csvs, bootstrap, split_csv)
    tuning = part_items(split_csv, "tuning") if split_csv is not None else None
    reference = chroma_reference(sources_dirs, chroma, bootstrap, only_items=tuning)
    write_csv_and_markdown(table, sweep_csv)
    write_csv_and_markdown(reference, reference_csv)
    different = float(reference.loc[reference["instrument"] == "all", "chroma"].iloc[0])
    sweep_figure(table, figure, steps=steps, max_chroma=max_chroma, different_sources=different)
    pooled = table[table["source"] == "all"]
    for r in pooled.itertuples():
        log.info(
            "sweep step %g (sigma %.3g): chroma %.3f, inst_acc %.2f, success %.2f (n %d)",
            r.step,
            r.sigma,
            r.chroma,
            r.inst_acc,
            r.success,
            r.n,
        )
    log.info("chroma between different sources of one instrument: %.3f", different)
    return table
