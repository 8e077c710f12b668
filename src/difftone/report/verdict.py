"""The verdict at the top of the page: three sentences on what the run shows and cannot show, what was
run (stand-ins said plainly), whether its numbers are comparable with the paper, the findings grouped by
comparison (from Table II, the paired comparisons and Table I), and the paper's qualitative claims beside
this run's outcome. Everything is derived from the run's own tables and config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    Claim(
        "the midpoint swap reaches the target instrument most often (highest instrument accuracy)",
        "midpoint",
        "inst_acc",
    ),
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
    if spec == "demo" or spec.startswith("demo:"):
        model = (
            "the demo generator (a small latent diffusion model this workflow trains on the embedded data), "
            "not Stable Audio Open",
            True,
        )
    elif spec == "tiny":
        model = (
            "the Stable Audio Open classes with small random weights (a plumbing test), not the trained model",
            True,
        )
    elif spec == PAPER_MODEL:
        model = (f"{spec} (Stable Audio Open 1.0, the paper's model)", False)
    else:
        model = (f"{spec} (a model with Stable Audio Open's layout)", False)
    data = (
        ("IRMAS (real recordings)", False)
        if _get(config, "data", "source") == "irmas"
        else ("the embedded dataset (clips rendered from MIDI with General MIDI soundfonts), not IRMAS", True)
    )
    kind = str(_get(config, "teacher_features", "kind", default="mert"))
    fspec = str(_get(config, "teacher_features", "spec", default="tiny"))
    if kind == "logmel":
        features = ("a fixed log-mel spectrogram (stand-in for MERT)", True)
    elif fspec == "tiny":
        features = ("a small random MERT-shaped model (stand-in for MERT)", True)
    else:
        features = (f"MERT ({fspec})", False)
    clap = str(_get(config, "metrics", "clap", "checkpoint", default="tiny"))
    kad = (
        ("a small random CLAP-shaped model (stand-in: KAD values are not meaningful)", True)
        if clap == "tiny"
        else (f"LAION CLAP ({clap})", False)
    )
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
        out[metric] = (
            str(r["method"]),
            float(r[metric]),
            float(r.get(f"{metric}_low", float("nan"))),
            float(r.get(f"{metric}_high", float("nan"))),
        )
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
        out.append(
            {
                "strategy": r.strategy,
                "baseline": r.baseline,
                "metric": r.metric,
                "difference": r.difference,
                "low": r.low,
                "high": r.high,
                "better": bool(better),
                "edits": r.edits,
                "sources": r.sources,
            }
        )
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
            others_worse = [
                (r.difference > 0) if DIRECTION[claim.metric] == "lower" else (r.difference < 0)
                for r in against.itertuples()
            ]
            if all(_true(z) for z in against["excludes_zero"]) and all(others_worse):
                return "holds", f"best, and every paired difference against it excludes 0 ({len(against)} strategies)"
            resolved = int(sum(_true(z) and w for z, w in zip(against["excludes_zero"], others_worse)))
            return "best here, not resolved", (
                f"best point estimate; {resolved} of {len(against)} paired differences against it exclude 0"
            )
    return "best here, not resolved", "best point estimate; no paired comparison for this metric"


def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0")


# -- the opening sentences and the findings by comparison -------------------------------------------------
DIFFTONE = "difftone"


def run_spec(config: Mapping[str, Any], model_spec: str) -> str:
    """The spec that says what the generator is: the config's ``model.spec`` (the jobs' spec is a local path:
    the trained demo checkpoint, a fetched snapshot), else ``model_spec``."""
    return str(_get(config, "model", "spec", default="") or model_spec)


def _family(strategy: str) -> str:
    """What a strategy is compared as: fixed:K and sigma:S together (a step fixed in advance), else itself."""
    return "fixed/sigma" if str(strategy).split(":")[0] in ("fixed", "sigma") else str(strategy)


def comparison_label(a: str, b: str) -> str:
    """``Diff-TONE vs midpoint``, ``Diff-TONE vs fixed/sigma``, ``midpoint vs random``."""
    if DIFFTONE in (a, b):
        return f"Diff-TONE vs {_family(b if a == DIFFTONE else a)}"
    return f"{_family(b)} vs {_family(a)}"


def comparison_groups(paired: pd.DataFrame | None) -> dict[str, list[dict]]:
    """The paired comparisons by what they compare (:func:`comparison_label`), in the table's order; a
    comparison the table holds both ways (A minus B and B minus A) is kept once, as the strategy minus the
    baseline it is first listed against. Each row: strategy, baseline, metric, difference, low, high, edits,
    sources, ``held`` (the interval excludes 0) and ``better`` (the strategy is better on the metric)."""
    groups: dict[str, list[dict]] = {}
    if paired is None or paired.empty:
        return groups
    seen: set[tuple[frozenset, str]] = set()
    for r in paired.itertuples(index=False):
        key = (frozenset((str(r.strategy), str(r.baseline))), str(r.metric))
        if key in seen:
            continue
        seen.add(key)
        better = (r.difference < 0) if DIRECTION.get(r.metric) == "lower" else (r.difference > 0)
        groups.setdefault(comparison_label(str(r.strategy), str(r.baseline)), []).append(
            {
                "strategy": str(r.strategy),
                "baseline": str(r.baseline),
                "metric": str(r.metric),
                "difference": float(r.difference),
                "low": float(r.low),
                "high": float(r.high),
                "edits": getattr(r, "edits", ""),
                "sources": getattr(r, "sources", ""),
                "held": _true(r.excludes_zero),
                "better": bool(better),
            }
        )
    return groups


def _count(t2: pd.DataFrame, column: str) -> int | None:
    rows = _strategies(t2)
    if column not in rows.columns:
        return None
    values = pd.to_numeric(rows[column], errors="coerce").dropna()
    return int(values.max()) if len(values) else None


def opening(
    facts: list[tuple[str, str, bool]],
    comparable: bool,
    t2: pd.DataFrame,
    paired: pd.DataFrame | None,
    n_instruments: int,
) -> list[str]:
    """Three sentences in words: what this run shows (its strategies, edits and best strategy), how much of
    it holds (the paired comparisons), and what it cannot show (the stand-ins, or the resolution of its
    intervals). Every number comes from the run's own tables."""
    names = _strategies(t2)["method"].astype(str).tolist()
    edits, sources = _count(t2, "edits"), _count(t2, "sources")
    on = (
        (f"the same {edits} edits" if edits else "the same edits")
        + (f" of {sources} source generations" if sources else "")
        + (f" ({n_instruments} instruments, each into every other)" if n_instruments else "")
    )
    best = best_per_metric(t2)
    metric = "success" if "success" in best else ("inst_acc" if "inst_acc" in best else None)
    if metric is None:
        outcome = "no metric has two strategies to compare"
    else:
        what = (
            "reached the target instrument while keeping the music most often"
            if metric == "success"
            else "reached the target instrument most often"
        )
        outcome = f"{best[metric][0]} {what} ({metric} {best[metric][1]:.3f})"
    first = f"This run compares {len(names)} swap strategies ({', '.join(names)}) on {on}; on them {outcome}."

    groups = comparison_groups(paired)
    total = sum(len(g) for g in groups.values())
    held = sum(r["held"] for g in groups.values() for r in g)
    if not total:
        second = "It has no paired comparisons, so it cannot say which of these differences are more than chance."
    else:
        second = (
            f"{held} of its {total} paired comparisons (the same edits, intervals over sources) exclude 0 "
            f"and hold on this setup; the other {total - held} are too small to resolve"
            + (f" with {sources} sources." if sources else ".")
        )
    standins = [what for what, _, s in facts if s]
    if comparable:
        third = (
            "It ran the paper's model on real recordings with real features and CLAP, so its numbers can be "
            "set beside the paper's; it cannot show differences smaller than its intervals."
        )
    else:
        third = (
            f"It cannot show how Diff-TONE does in the paper's setting: its {_join(standins)} "
            f"{'are stand-ins' if len(standins) > 1 else 'is a stand-in'}, so none of its numbers can be set "
            "beside the paper's."
        )
    return [first, second, third]


def classifier_findings(table1: pd.DataFrame | None, n_instruments: int) -> list[str]:
    """Per evaluation set of Table I: each classifier's accuracy with its interval, the distilled against
    the non-distilled one (their intervals apart or overlapping), and chance. Plain text."""
    if table1 is None or table1.empty:
        return []
    out = []
    chance = f"; chance {1 / n_instruments:.3f}" if n_instruments else ""
    for eval_set, rows in table1.groupby("eval_set", sort=False):
        acc = {
            str(r.classifier): (float(r.accuracy), float(r.ci_low), float(r.ci_high))
            for r in rows.itertuples(index=False)
        }
        parts = [f"{name} {a:.3f} [{lo:.3f}, {hi:.3f}]" for name, (a, lo, hi) in acc.items()]
        line = f"{eval_set}: {', '.join(parts)}{chance}."
        if "distilled" in acc and "non-distilled" in acc:
            (a, lo, hi), (b, blo, bhi) = acc["distilled"], acc["non-distilled"]
            if lo > bhi or blo > hi:
                line += (
                    f" The distilled classifier is {'better' if a > b else 'worse'} than the non-distilled one "
                    "(intervals apart)."
                )
            else:
                line += " Distilled and non-distilled are not resolved apart (intervals overlap)."
        out.append(line)
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""
