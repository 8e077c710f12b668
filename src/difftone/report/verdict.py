"""The verdict at the top of the page: what was run (stand-ins said plainly), whether its numbers are
comparable with the paper, and findings generated from Table II and the paired comparisons, with the
paper's qualitative claims beside this run's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from difftone.report.columns import DIRECTION

PAPER_MODEL = "stabilityai/stable-audio-open-1.0"
# The metrics the findings rank (Table II columns), in the paper's order.
FINDING_METRICS = ("chroma", "kad", "inst_acc", "judge_acc", "success")
CHANGED_SUFFIX = " (changed)"  # difftone restricted to the edits where its classifier changed its mind


@dataclass(frozen=True)
class Claim:
    """A qualitative claim of the paper: ``strategy`` is the best on ``metric``."""

    text: str
    strategy: str
    metric: str


PAPER_CLAIMS = (
    Claim("Diff-TONE keeps the music best (lowest chroma distance)", "difftone", "chroma"),
    Claim("Diff-TONE's edits are closest to the target instrument (lowest KAD)", "difftone", "kad"),
    Claim("the midpoint swap reaches the target instrument most often (highest instrument accuracy)",
          "midpoint", "inst_acc"),
)


def _get(config: Mapping, *keys, default: Any = "") -> Any:
    node: Any = config
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            return default
        node = node[k]
    return node


def run_facts(config: Mapping[str, Any], model_spec: str) -> list[tuple[str, str, bool]]:
    """What was run, as (what, description, is a stand-in) rows."""
    spec = str(model_spec)
    if spec == "demo":
        model = ("the demo generator (a small latent diffusion model this workflow trains on the embedded data), "
                 "not Stable Audio Open", True)
    elif spec == "tiny":
        model = ("the Stable Audio Open classes with small random weights (a plumbing test), not the trained model",
                 True)
    elif spec == PAPER_MODEL:
        model = (f"{spec} (Stable Audio Open 1.0, the paper's model)", False)
    else:
        model = (f"{spec} (a model with Stable Audio Open's layout)", False)
    data = ("IRMAS (real recordings)", False) if _get(config, "data", "source") == "irmas" else (
        "the embedded dataset (clips rendered from MIDI with a General MIDI soundfont), not IRMAS", True)
    kind = str(_get(config, "teacher_features", "kind", default="mert"))
    fspec = str(_get(config, "teacher_features", "spec", default="tiny"))
    if kind == "logmel":
        features = ("a fixed log-mel spectrogram (stand-in for MERT)", True)
    elif fspec == "tiny":
        features = ("a small random MERT-shaped model (stand-in for MERT)", True)
    else:
        features = (f"MERT ({fspec})", False)
    clap = str(_get(config, "metrics", "clap", "checkpoint", default="tiny"))
    kad = ("a small random CLAP-shaped model (stand-in: KAD values are not meaningful)", True) if clap == "tiny" \
        else (f"LAION CLAP ({clap})", False)
    return [("generator", *model), ("data", *data), ("classifier features", *features), ("KAD embeddings", *kad)]


def comparable_with_paper(facts: list[tuple[str, str, bool]], model_spec: str) -> bool:
    """Only the paper's model on real data with real features and CLAP gives numbers to set beside the paper's."""
    return str(model_spec) == PAPER_MODEL and not any(stand_in for _, _, stand_in in facts)


def _strategies(table2: pd.DataFrame) -> pd.DataFrame:
    return table2[~table2["method"].astype(str).str.endswith(CHANGED_SUFFIX)]


def best_per_metric(table2: pd.DataFrame) -> dict[str, tuple[str, float, float, float]]:
    """metric -> (best strategy, estimate, low, high) among Table II's strategy rows."""
    rows = _strategies(table2)
    out = {}
    for metric in FINDING_METRICS:
        if metric not in rows.columns:
            continue
        values = pd.to_numeric(rows[metric], errors="coerce")
        if values.notna().sum() < 2:
            continue
        i = values.idxmin() if DIRECTION[metric] == "lower" else values.idxmax()
        r = rows.loc[i]
        out[metric] = (str(r["method"]), float(r[metric]), float(r.get(f"{metric}_low", float("nan"))),
                       float(r.get(f"{metric}_high", float("nan"))))
    return out


def held_differences(paired: pd.DataFrame | None) -> list[dict]:
    """The paired comparisons whose interval excludes zero, each with whether the strategy is better."""
    if paired is None or paired.empty:
        return []
    out = []
    for r in paired.itertuples(index=False):
        if not _true(r.excludes_zero):
            continue
        better = (r.difference < 0) if DIRECTION.get(r.metric) == "lower" else (r.difference > 0)
        out.append({"strategy": r.strategy, "baseline": r.baseline, "metric": r.metric, "difference": r.difference,
                    "low": r.low, "high": r.high, "better": bool(better), "edits": r.edits, "sources": r.sources})
    return out


def claim_outcome(claim: Claim, table2: pd.DataFrame, paired: pd.DataFrame | None) -> tuple[str, str]:
    """(verdict word, explanation) of a paper claim on this run: ``holds`` (best here and every paired
    difference against it excludes zero in its favour), ``best here, not resolved`` (best point estimate
    only), ``not seen`` (another strategy is better), ``not measured``."""
    rows = _strategies(table2)
    methods = rows["method"].astype(str).tolist()
    if claim.strategy not in methods or claim.metric not in rows.columns:
        return "not measured", f"this run has no {claim.strategy} row or no {claim.metric} column"
    best = best_per_metric(table2).get(claim.metric)
    if best is None:
        return "not measured", f"{claim.metric} has fewer than two values"
    if best[0] != claim.strategy:
        return "not seen", f"best {claim.metric} here: {best[0]} ({best[1]:.3f})"
    if paired is not None and not paired.empty and claim.metric in set(paired["metric"]):
        against = paired[(paired["baseline"] == claim.strategy) & (paired["metric"] == claim.metric)]
        if len(against):
            others_worse = [(r.difference > 0) if DIRECTION[claim.metric] == "lower" else (r.difference < 0)
                            for r in against.itertuples()]
            if all(_true(z) for z in against["excludes_zero"]) and all(others_worse):
                return "holds", f"best, and every paired difference against it excludes 0 ({len(against)} strategies)"
            resolved = int(sum(_true(z) and w for z, w in zip(against["excludes_zero"], others_worse)))
            return "best here, not resolved", (f"best point estimate; {resolved} of {len(against)} paired "
                                               "differences against it exclude 0")
    return "best here, not resolved", "best point estimate; no paired comparison for this metric"


def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0")
