"""What the report's tables mean: one definition and better direction per column name, and the
registry of the result tables the page shows.

A table stage adds its table to the page by adding a :class:`TableSpec` to :data:`TABLES` (title,
CSV path, what a row is, rows to keep visible when folded, extra column definitions) and its CSV
to ``get_final_output()``; the page then renders it with the same rules as the others (arrows,
best marked, every column defined, intervals described, folded when long, CSV linked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Better direction of the metrics: "lower" or "higher"; columns not listed have none.
DIRECTION: dict[str, str] = {
    "chroma": "lower",
    "kad": "lower",
    "inst_acc": "higher",
    "judge_acc": "higher",
    "success": "higher",
    "accuracy": "higher",
    "nfe_per_edit": "lower",
    "probe_nfe_per_edit": "lower",
    "clap_text": "higher",
    "all_reached": "higher",
    "source_left": "lower",
}
ARROW = {"lower": "↓", "higher": "↑"}

# One definition per column name, shared by every table of the page.
DEFINITIONS: dict[str, str] = {
    "method": "the swap strategy (difftone: the step where the classifier reading x0_hat last changes its "
    "top-1; midpoint: step N/2; random: a seeded random step; fixed:K: step K; sigma:S: the first "
    "step with noise level below S; probe/agree: steps chosen by probing edits). "
    "<i>difftone (changed)</i> is difftone on the edits where its classifier did change its mind.",
    "strategy": "the swap strategy (see method).",
    "classifier": "teacher: trained on the real clips' features; distilled: the student reading x0_hat, "
    "distilled from the teacher (the step selector); non-distilled: the same student trained "
    "on labels only; judge: the independent judge of judge_acc.",
    "eval_set": "what the classifier was scored on: the held-out clips of the dataset split (irmas_* on the "
    "real IRMAS, rendered clips on the embedded data), <i>heldout_soundfont</i> (embedded data: clips of a "
    "soundfont that no classifier and no generator trained on, other scores, each instrument's own patch) or "
    "<i>generated</i>, the source generations labelled by their prompt's instrument.",
    "accuracy": "top-1 accuracy (share of clips whose predicted instrument is the label).",
    "n": "how many items the row's numbers average over.",
    "selected_by": "the split that chose the training epoch (never the one scored).",
    "chroma": "chroma distance between the edit and its source (0 = the same notes and harmony; lower keeps "
    "the music). An unchanged source scores 0, so read it with inst_acc.",
    "kad": "Kernel Audio Distance between CLAP embeddings of the edits and the target instrument's real clips "
    "(lower: closer to the target).",
    "inst_acc": "share of edits the teacher classifier labels as the target instrument.",
    "judge_acc": "the same share by the independent judge (not related to the step selector).",
    "success": "share of edits that reach the target (teacher) and keep the music "
    "(chroma at most metrics.success.max_chroma).",
    "sources": "source generations the row's edits come from (the unit the intervals resample).",
    "edits": "edits (source item, target instrument) in the row; every strategy is scored on the same ones.",
    "fallbacks": "edits whose step the no-change policy chose because the classifier never changed its mind.",
    "skipped": "edits this strategy did not make (no-change policy skip).",
    "excluded": "edits left out of this row because another strategy skipped them.",
    "swap_step_mean": "mean denoising step of the swap (0 = the start, N = never swapped).",
    "sigma_median": "median noise level sigma at the swap step.",
    "nfe_per_edit": "denoiser evaluations one edit costs on average, probes included.",
    "probe_nfe_per_edit": "the probes' share of nfe_per_edit (0 for strategies that do not probe).",
    "source": "the source generation's instrument (<i>all</i>: pooled over instruments).",
    "target": "the instrument the edit swaps in (<i>all</i>: pooled).",
    "step": "the fixed swap step K of the sweep (0 = regenerate from the target prompt, N = the source).",
    "sigma": "noise level sigma at that step.",
    "instrument": "the instrument whose different sources are compared (<i>all</i>: pooled).",
    "pair": "the instrument pair source_to_target (<i>all</i>: pooled over the pairs).",
    "baseline": "the strategy compared against.",
    "metric": "the metric of the paired comparison.",
    "strategy_mean": "the strategy's mean on the paired edits.",
    "baseline_mean": "the baseline's mean on the same edits.",
    "difference": "mean per-edit difference strategy - baseline (for chroma lower is better, for the others higher).",
    "excludes_zero": "the interval of the difference excludes 0: the difference holds at this level.",
    "real_audio": "the edits start from real recordings instead of generations.",
    "instruments": "the instruments named in the prompt (several-instrument edits).",
}

REFERENCE_LABEL = "reference"


@dataclass(frozen=True)
class TableSpec:
    """One result table of the page.

    ``key``: its anchor and the build_report input name; ``csv``: the workflow path;
    ``intro``: what a row is (HTML); ``label``: the column naming a row; ``group_by``: columns
    within which the best value is marked (rows of different groups are not compared);
    ``pooled``: (column, value) of the rows kept visible when the table is folded;
    ``fold_rows``: fold when longer; ``mark_best``: mark best values; ``definitions``: extra or
    overriding column definitions.
    """

    key: str
    title: str
    csv: str
    intro: str = ""
    label: str = "method"
    group_by: tuple[str, ...] = ()
    pooled: tuple[str, str] | None = None
    fold_rows: int = 24
    mark_best: bool = True
    definitions: Mapping[str, str] = field(default_factory=dict)


# Tables of later stages (MusicMagus, real recordings, several instruments): shown when the
# workflow makes them (their CSV is in get_final_output()).
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "table3",
        "Table III: against MusicMagus",
        "results/tables/table3_musicmagus.csv",
        "Diff-TONE's strategies beside MusicMagus (editing by moving the text embedding's instrument "
        "direction) on the same sources.",
        group_by=("pair",),
        pooled=("pair", "all"),
        definitions={"method": "the editing method: a swap strategy or MusicMagus."},
    ),
    TableSpec(
        "table4",
        "Table IV: real recordings",
        "results/tables/table4_real_audio.csv",
        "Edits of real recordings (inverted into the model's trajectory) instead of generations.",
    ),
    TableSpec(
        "table5",
        "Table V: several instruments",
        "results/tables/table5_multi.csv",
        "Duets (\u201cA jazz duet for piano and trumpet\u201d) edited into other duets: both instrument words "
        "swapped, each at the step the strategy chooses for it, one after the other in one resumed run. "
        "The last row reads the sources for their own instruments: how well the judges read a duet.",
        definitions={
            "method": "the swap strategy, applied per word (presence: per-word Diff-TONE, each word at the "
            "last step where the classifier's probability of its instrument crosses "
            "swap.presence_threshold; midpoint: one shared step N/2; difftone: both words at the "
            "single-instrument rule's step).",
            "sources": "duet source generations (the clusters of the intervals).",
            "n": "edits scored.",
            "inst_acc": "share of the target instruments in the teacher's top-k (multi.top_k) on the edit.",
            "judge_acc": "share of the target instruments in the independent judge's top-k on the edit.",
            "all_reached": "share of edits with every target instrument in the teacher's top-k.",
            "source_left": "share of the source instruments still in the teacher's top-k (lower: replaced).",
            "swap_step_mean": "mean first swap step of the resumed run.",
            "step_gap_mean": "mean gap between the words' swap steps (0: one shared step).",
            "fallback_share": "share of edits where swap.no_change_policy chose some word's step.",
        },
    ),
)


def definition(column: str, extra: Mapping[str, str] | None = None) -> str:
    """The definition of ``column`` (``extra`` first); the ``_low``/``_high`` bounds of an interval
    and unknown columns get a generic one."""
    if extra and column in extra:
        return extra[column]
    if column in DEFINITIONS:
        return DEFINITIONS[column]
    for suffix, side in (("_low", "lower"), ("_high", "upper")):
        if column.endswith(suffix) and column[: -len(suffix)] in DEFINITIONS:
            return f"{side} bound of the interval of {column[: -len(suffix)]}."
    return "as named in the CSV (no definition registered in difftone.report.columns)."
