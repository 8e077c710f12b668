"""The report page: one self-contained static HTML file (inline CSS, no network assets) with
relative links to the images and audio beside it.

Layout of the report folder (``results/report/``)::

    index.html                     the page
    assets/                        copies of the figures and tables (CSV), every player's audio at the
                                   listening level, and the spectrogram thumbnails (written by write_report)
    audio/swap_steps/              Figure 2's audio as the pipeline wrote it (rule edit_swap_steps)

Figures already inside the report folder are linked where they are; anything else is copied
into ``assets/``, so the folder can be zipped and opened anywhere. Every player plays a copy at
one loudness (``LISTEN_RMS_DB`` RMS, peak-limited, never clipped; the gain is printed under it),
so a source and its edits compare by ear whatever level the pipeline wrote them at. ``assets/`` is built in a
temporary folder and renamed, ``index.html`` written atomically, and every local link of the
page is checked to exist before either is put in place.

Order of the page: the verdict (three sentences on what the run shows and cannot show, what was
run, the findings by comparison, the paper's claims), Table II with reference rows and the paired
comparisons, the listening examples, Figure 2, Table I, the tables of later stages
(:data:`difftone.report.columns.TABLES`), the sweep, the configuration. Layout rules: the page is
never wider than the window (390 px included); tables of numbers scroll inside their own box, the
verdict's tables of words (``table.prose``) wrap to fit it; players and spectrograms stack on narrow
screens; figures link to their full size.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from difftone import audio
from difftone.experiment.items import ExperimentError, pair_name, read_table, strategy_slug
from difftone.experiment.sources import read_sources
from difftone.experiment.swap_steps import MANIFEST, MANIFEST_COLUMNS
from difftone.files import atomic_folder, atomic_path, read_csv
from difftone.instruments import INSTRUMENTS
from difftone.report import verdict as V
from difftone.report.columns import ARROW, DIRECTION, TABLES, TableSpec
from difftone.report.html import audio as _audio_player
from difftone.report.html import definitions_html, esc, fmt, img, table_html
from difftone.report.listening import listening_layout

log = logging.getLogger(__name__)

LISTEN_RMS_DB = -20.0  # the loudness every player of the page is copied at (peak-limited, never clipped)

TABLE1_COLUMNS = ["classifier", "eval_set", "accuracy", "ci_low", "ci_high", "n"]
TABLE2_COLUMNS = ["method", "chroma", "kad", "inst_acc"]
PER_PAIR_COLUMNS = ["strategy", "source", "target", "chroma", "kad", "inst_acc"]
PAIRED_COLUMNS = ["strategy", "baseline", "metric", "difference", "low", "high", "excludes_zero"]
FIGURE2_ALT = (
    "Mel spectrograms of a source generation and of its edits swapped at several denoising "
    "steps, one row per example pair"
)
SWAP_COLUMNS = ["item", "swap_step", "sigma", "reason", "target_prompt", "audio"]

CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1180px;
       padding: 0 1em; color: #222; line-height: 1.45; overflow-wrap: break-word; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav { display: flex; flex-wrap: wrap; gap: 0.3em 1em; } .muted { color: #666; font-size: 0.9em; }
.banner { background: #fff4d6; border: 1px solid #e0b44a; padding: 0.6em 0.9em; border-radius: 4px; }
.banner.ok { background: #e8f5e9; border-color: #7cb47f; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.88em; }
caption { text-align: left; color: #555; padding-bottom: 0.3em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: middle; }
th { background: #f3f3f3; white-space: nowrap; } tr:nth-child(even) td { background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best b { color: #0b5d1e; } tr.ref td { font-style: italic; color: #555; background: #f4f7fb; }
img { max-width: 100%; height: auto; border: 1px solid #eee; display: block; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
details.defs summary { font-weight: normal; color: #444; } dl { margin: 0.3em 0 0 0; }
dt { font-family: monospace; font-weight: 600; } dd { margin: 0 0 0.4em 1.2em; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; } pre { padding: 0.6em; overflow-x: auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 0.8em; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em; min-width: 0; }
.card h4 { margin: 0 0 0.3em 0; font-size: 0.95em; } .card p { margin: 0.3em 0; font-size: 0.85em; }
.player { display: flex; flex-direction: column; gap: 0.15em; margin: 0.3em 0; }
.plabel { font-size: 0.8em; color: #444; } audio { width: 100%; height: 36px; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 320px), 1fr)); gap: 0.8em; }
ul.findings li { margin: 0.25em 0; } h4 { margin: 0.9em 0 0.2em 0; }
p.lead { font-size: 1.05em; }
table.prose { width: 100%; } table.prose th, table.prose td { white-space: normal; overflow-wrap: anywhere; }
"""


def write_report(
    out_html: str | Path,
    *,
    config: Mapping[str, Any],
    model_spec: str,
    table1: str | Path,
    table2: str | Path,
    per_pair: str | Path,
    swap_steps_audio: str | Path,
    swap_steps_figure: str | Path,
    sources_dirs: Mapping[str, str | Path],
    swaps_csvs: Sequence[str | Path],
    strategies: Sequence[str],
    examples: Sequence[tuple[str, str]],
    confusion_figures: Sequence[str | Path] = (),
    loss_figure: str | Path | None = None,
    sweep_table: str | Path | None = None,
    sweep_figure: str | Path | None = None,
    paired: str | Path | None = None,
    chroma_reference: str | Path | None = None,
    items_csvs: Sequence[str | Path] = (),
    extra_tables: Mapping[str, str | Path] | None = None,
    multi_dir: str | Path | None = None,
    listening: Mapping[str, Sequence[str | Path]] | None = None,
) -> Path:
    """Write the report page ``out_html`` and its ``assets/`` folder beside it.

    ``config``: the validated workflow config (what was run, the verdict's banner, the full config
    collapsible); ``model_spec``: the spec the model jobs load; tables: the workflow's CSVs
    (``paired``: paired differences, ``chroma_reference``: the different-source chroma, when the
    workflow makes them); ``swap_steps_audio``/``swap_steps_figure``: Figure 2's audio folder (rule
    edit_swap_steps) and figure (rule plot_swap_steps); ``sources_dirs`` (instrument -> folder) and
    ``swaps_csvs`` (``<strategy>/<source>_to_<target>/swaps.csv`` of every strategy and example pair):
    the listening examples, each the first source item of the pair's source instrument with every
    strategy's edit; ``items_csvs`` (``results/metrics/<strategy>/items.csv``): what the judges heard
    on them; ``extra_tables``: key of a :data:`~difftone.report.columns.TABLES` entry -> its CSV;
    ``multi_dir``: Table V's folder (``results/multi``), whose duet edits are listened to beside it;
    ``listening``: ``table3``/``table4`` -> the files of that table's listening section, whose pairs, sources
    and methods it derives with the table's CSV (:func:`difftone.report.listening.listening_layout`).
    Returns the page's path.
    """
    out_html = Path(out_html)
    page_dir = out_html.parent
    assets = page_dir / "assets"
    specs = {s.key: s for s in TABLES}
    unknown = sorted(set(extra_tables or {}) - set(specs))
    if unknown:
        raise ExperimentError(f"report: tables {unknown} are not in difftone.report.columns.TABLES; register them")
    with atomic_folder(assets) as tmp:
        t2 = _read(table2, TABLE2_COLUMNS, "Table II (strategies)")
        paired_df = _read(paired, PAIRED_COLUMNS, "paired comparisons") if paired is not None else None
        sweep_df = _read(sweep_table, [], "swap-step sweep") if sweep_table is not None else None
        ref_df = (
            _read(chroma_reference, ["instrument", "chroma"], "chroma reference")
            if chroma_reference is not None
            else None
        )
        media = _Media(page_dir, assets, tmp)
        t1 = _read(table1, TABLE1_COLUMNS, "Table I (classifiers)")
        sections = [
            _verdict_section(config, model_spec, t2, paired_df, t1),
            _table2_section(
                t2,
                per_pair,
                paired_df,
                config,
                sweep_df,
                ref_df,
                media,
                {"table2": table2, "per_pair": per_pair, "paired": paired},
            ),
            _gallery_section(sources_dirs, swaps_csvs, strategies, examples, items_csvs, config, media),
            _figure2_section(swap_steps_audio, swap_steps_figure, media),
            _table1_section(table1, media, confusion_figures, config),
        ]
        for key, csv in (extra_tables or {}).items():
            sections.append(_registered_section(specs[key], csv, config, media))
            if key in (listening or {}):
                sections.append(_listening_section(key, listening_layout(listening[key], csv), config, media))
        if sweep_table is not None or sweep_figure is not None:
            sections.append(_sweep_section(sweep_df, sweep_table, sweep_figure, ref_df, media))
        if multi_dir is not None:
            sections.append(_multi_listening_section(multi_dir, config, media))
        if loss_figure is not None:
            sections.append(_loss_section(loss_figure, media))
        sections.append(_summary_section(config, model_spec))
        text = _page(sections, config, model_spec)
        missing = [link for link in local_links(text) if not media.resolve(link).is_file()]
        if missing:
            raise ExperimentError(
                f"{out_html}: the page would link missing files {missing[:5]}; rerun the stages that write them"
            )
    with atomic_path(out_html) as part:
        part.write_text(text, encoding="utf-8")
    log.info("report: %s (%d links, %d audio players)", out_html, len(local_links(text)), text.count("<audio"))
    return out_html


# -- links and media ---------------------------------------------------------------------------
class _LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "http:", "https:", "data:", "mailto:")):
                self.links.append(value)


def local_links(page: str) -> list[str]:
    """The relative ``src``/``href`` links of an HTML text (anchors and URLs left out), in order."""
    parser = _LinkParser()
    parser.feed(page)
    return parser.links


class _Media:
    """Relative links for media: files inside the report folder in place, others copied to assets/;
    spectrogram thumbnails drawn into assets/spectrograms/."""

    def __init__(self, page_dir: Path, assets: Path, tmp: Path):
        self.page_dir, self.assets, self.tmp = page_dir.resolve(), assets, tmp

    def link(self, path: str | Path, name: str) -> str:
        path = Path(path)
        if not path.is_file():
            raise ExperimentError(f"{path} does not exist; run the stage that writes it before the report")
        resolved = path.resolve()
        if resolved.is_relative_to(self.page_dir) and not resolved.is_relative_to(self.assets.resolve()):
            return resolved.relative_to(self.page_dir).as_posix()
        dest = self.tmp / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return f"assets/{name}"

    def listen(self, path: str | Path, name: str) -> tuple[str, float]:
        """A copy of ``path`` in assets/ at the page's listening level (:data:`LISTEN_RMS_DB` RMS,
        peak-limited, never clipped): every player of the page compares at one loudness whatever level the
        pipeline wrote. Returns ``(link, gain_db)``."""
        path = Path(path)
        if not path.is_file():
            raise ExperimentError(f"{path} does not exist; run the stage that writes it before the report")
        wave, rate = audio.load(path)
        matched, gain_db = audio.match_level(wave, LISTEN_RMS_DB)
        audio.write(self.tmp / name, matched, rate)
        return f"assets/{name}", gain_db

    def spectrogram(self, wav: str | Path, name: str) -> str:
        """Link of a mel-spectrogram thumbnail of ``wav`` (drawn into assets/spectrograms/<name>.png)."""
        from difftone.report.figures import plot_mel_thumbnail

        if not Path(wav).is_file():
            raise ExperimentError(f"{wav} does not exist; run the stage that writes it before the report")
        plot_mel_thumbnail(wav, self.tmp / "spectrograms" / f"{name}.png")
        return f"assets/spectrograms/{name}.png"

    def trace(self, trace: Mapping[str, Any], name: str, title: str) -> str:
        """Link of the classifier-trace picture of a source (:func:`difftone.report.trace_plot.plot_trace`, drawn
        into assets/traces/<name>.png)."""
        from difftone.report.trace_plot import plot_trace

        dest = self.tmp / "traces" / f"{name}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        plot_trace(trace, title=title).savefig(dest)
        return f"assets/traces/{name}.png"

    def resolve(self, link: str) -> Path:
        """Where a link of the page will point once the assets are in place (for the check)."""
        if link.startswith("assets/"):
            return self.tmp / link[len("assets/") :]
        return self.page_dir / link


# -- helpers -------------------------------------------------------------------------------------
def _section(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    return anchor, title, f'<section id="{anchor}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def _get(config: Mapping, *keys, default: Any = "") -> Any:
    return V._get(config, *keys, default=default)


def _read(path, columns: list[str], what: str) -> pd.DataFrame:
    """A workflow table, checked (columns, rows), with numbers parsed (empty cells NaN)."""
    return read_csv(path, columns, what=f"the {what} stage", error=ExperimentError)


def intervals_note(config: Mapping[str, Any]) -> str:
    """How the page's intervals were computed, from the config's bootstrap settings."""
    alpha = float(_get(config, "metrics", "bootstrap", "alpha", default=0.05))
    n_boot = _get(config, "metrics", "bootstrap", "n_boot", default="")
    boots = f", {n_boot} resamples" if n_boot != "" else ""
    return (
        f"Intervals <code>[low, high]</code>: {100 * (1 - alpha):g}% percentile bootstrap{boots}, resampling "
        "whole source generations (all edits of a source together); Table I's resample clips. "
        "★ marks the best value of a column (ties included); ↓/↑: lower/higher is better."
    )


def _csv_links(media: _Media, paths: Mapping[str, str | Path | None]) -> str:
    links = [
        f'<a href="{esc(media.link(p, "tables/" + Path(p).name))}">{esc(Path(p).name)}</a>'
        for p in paths.values()
        if p is not None
    ]
    return f'<p class="muted">CSV: {", ".join(links)}</p>' if links else ""


def _folded(df: pd.DataFrame, title: str, pooled: tuple[str, str] | None, fold_rows: int, **table_kw) -> str:
    """A table, or for long ones its pooled rows visible and the whole table folded."""
    if len(df) <= fold_rows:
        return table_html(df, **table_kw)
    head = ""
    if pooled is not None and pooled[0] in df.columns:
        rows = df[df[pooled[0]].astype(str) == pooled[1]]
        if len(rows):
            head = f'<p class="muted">Pooled rows ({pooled[0]} = {esc(pooled[1])}):</p>' + table_html(rows, **table_kw)
    return head + f"<details><summary>{esc(title)} ({len(df)} rows)</summary>\n{table_html(df, **table_kw)}\n</details>"


# -- the verdict -----------------------------------------------------------------------------------
def _verdict_section(config, model_spec, t2: pd.DataFrame, paired: pd.DataFrame | None, t1: pd.DataFrame | None = None):
    spec = V.run_spec(config, model_spec)
    facts = V.run_facts(config, spec)
    comparable = V.comparable_with_paper(facts, spec)
    n_inst = len(_get(config, "instruments", default=[]))
    lead = '<p class="lead">' + " ".join(esc(x) for x in V.opening(facts, comparable, t2, paired, n_inst)) + "</p>"
    if comparable:
        banner = (
            '<p class="banner ok">This run used the paper\'s model on real data with real features: its '
            "numbers can be set beside the paper's (same protocol as configured below).</p>"
        )
    else:
        standins = ", ".join(what for what, _, s in facts if s)
        banner = (
            '<p class="banner"><b>Not comparable with the paper\'s numbers.</b> This run uses stand-ins '
            f"({esc(standins)}): it checks the method end to end at small scale; its numbers say how the "
            "strategies compare <i>on this setup</i> only.</p>"
        )
    ran = "".join(
        f'<tr><th scope="row">{esc(w)}</th><td>{esc(d)}</td><td>{"stand-in" if s else "real"}</td></tr>'
        for w, d, s in facts
    )
    ran = f'<div class="scroll"><table class="prose"><tbody>{ran}</tbody></table></div>'
    claims = []
    for claim in V.PAPER_CLAIMS:
        word, why = V.claim_outcome(claim, t2, paired)
        claims.append(f"<tr><td>{esc(claim.text)}</td><td><b>{esc(word)}</b></td><td>{esc(why)}</td></tr>")
    claims_html = (
        '<div class="scroll"><table class="prose"><thead><tr><th scope="col">the paper says</th>'
        '<th scope="col">this run</th><th scope="col">why</th></tr></thead><tbody>'
        + "".join(claims)
        + "</tbody></table></div>"
    )
    body = (
        lead
        + banner
        + "<h3>What was run</h3>"
        + ran
        + f'<p class="muted">{_get(config, "model", "steps")} denoising steps, '
        f"{n_inst} instruments, strategies: "
        f"{esc(', '.join(map(str, _get(config, 'edits', 'strategies', default=[]))))}. "
        'Details: <a href="#config">configuration</a>.</p>'
        + "<h3>Findings</h3>"
        + _findings(t2, paired, t1, n_inst)
        + "<h3>The paper's claims on this run</h3>"
        + claims_html
        + f'<p class="muted">{intervals_note(config)} <i>holds</i>: best here and every paired difference '
        "against it excludes 0.</p>"
    )
    return _section("verdict", "Verdict", body)


def _findings(t2: pd.DataFrame, paired: pd.DataFrame | None, t1: pd.DataFrame | None = None, n_inst: int = 0) -> str:
    """The findings by comparison: the best strategy per metric, then each comparison's paired differences
    (those that hold one by one, the rest in one line), then the classifiers."""
    groups = []
    best = []
    for metric, (method, est, lo, hi) in V.best_per_metric(t2).items():
        arrow = ARROW[DIRECTION[metric]]
        ci = f" [{fmt(lo)}, {fmt(hi)}]" if fmt(lo) else ""
        best.append(f"<li>Best <b>{esc(metric)}</b> {arrow}: <b>{esc(method)}</b> ({fmt(est)}{ci}).</li>")
    if paired is None:
        best.append(
            "<li>No paired comparisons in this run (<code>paired.csv</code>): the intervals of Table II "
            "alone do not say which differences hold.</li>"
        )
    groups.append(("Best per metric (Table II)", best))
    for label, rows in V.comparison_groups(paired).items():
        items = []
        for h in (r for r in rows if r["held"]):
            word = "better" if h["better"] else "worse"
            items.append(
                f"<li><b>{esc(h['strategy'])}</b> is {word} than {esc(h['baseline'])} on "
                f"<b>{esc(h['metric'])}</b>: difference {fmt(h['difference'])} [{fmt(h['low'])}, "
                f"{fmt(h['high'])}] over {esc(h['edits'])} paired edits of {esc(h['sources'])} sources.</li>"
            )
        unresolved: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            if not r["held"]:
                unresolved.setdefault((r["strategy"], r["baseline"]), []).append(r)
        for (strategy, baseline), open_ in unresolved.items():
            listed = "; ".join(
                f"{esc(r['metric'])} {fmt(r['difference'])} [{fmt(r['low'])}, {fmt(r['high'])}]" for r in open_
            )
            items.append(
                f"<li>Not resolved (the interval includes 0), {esc(strategy)} minus {esc(baseline)}: {listed}.</li>"
            )
        groups.append((label, items))
    if paired is not None and paired.empty:
        groups[0][1].append("<li>The paired comparisons table is empty.</li>")
    classifiers = [f"<li>{esc(line)}</li>" for line in V.classifier_findings(t1, n_inst)]
    if classifiers:
        groups.append(("Classifiers (Table I)", classifiers))
    return "".join(
        f'<h4>{esc(label)}</h4><ul class="findings">{"".join(items)}</ul>' for label, items in groups if items
    )


# -- tables ------------------------------------------------------------------------------------------
def _reference_rows(t2: pd.DataFrame, config, sweep: pd.DataFrame | None, ref: pd.DataFrame | None) -> pd.DataFrame:
    """Rows to read Table II against: chance, the source unchanged and full regeneration (the sweep's
    pooled step N and step 0, tuning sources), two different sources of one instrument (chroma)."""
    rows = []
    n_inst = len(_get(config, "instruments", default=[]))
    if n_inst:
        rows.append(
            {
                "method": f"reference: chance (1/{n_inst} instruments)",
                "inst_acc": 1 / n_inst,
                **({"judge_acc": 1 / n_inst} if "judge_acc" in t2.columns else {}),
            }
        )
    if sweep is not None and {"step", "source"} <= set(sweep.columns):
        pooled = sweep[(sweep["source"].astype(str) == "all")]
        steps = int(_get(config, "model", "steps", default=-1))
        for step, label in (
            (steps, "source unchanged (sweep: swap at step N)"),
            (0, "full regeneration from the target prompt (sweep: step 0)"),
        ):
            r = pooled[pd.to_numeric(pooled["step"], errors="coerce") == step]
            if len(r):
                rows.append(
                    {
                        "method": f"reference: {label}",
                        **{c: r.iloc[0][c] for c in r.columns if c in t2.columns and c != "method"},
                    }
                )
    if ref is not None:
        r = ref[ref["instrument"].astype(str) == "all"]
        if len(r):
            rows.append(
                {
                    "method": "reference: two different sources of one instrument (chroma)",
                    **{c: r.iloc[0][c] for c in ("chroma", "chroma_low", "chroma_high") if c in r.columns},
                }
            )
    return pd.DataFrame(rows, columns=t2.columns)


def _table2_section(t2, per_pair, paired, config, sweep, ref, media: _Media, csvs):
    pp = _read(per_pair, PER_PAIR_COLUMNS, "per-pair metrics")
    refs = _reference_rows(t2, config, sweep, ref)
    shown = pd.concat([t2, refs], ignore_index=True) if len(refs) else t2.copy()
    is_ref = pd.Series([i >= len(t2) for i in range(len(shown))], index=shown.index)
    eligible = ~is_ref & ~shown["method"].astype(str).str.endswith(V.CHANGED_SUFFIX)
    row_class = {i: "ref" for i in shown.index[is_ref]}
    body = [
        "<p>Swap strategies (paper Table II), every strategy on the same edits. Reference rows (italic) are not "
        "strategies: they bound what the numbers can be (the sweep's rows come from its tuning sources).</p>",
        table_html(shown, eligible=eligible, row_class=row_class),
        definitions_html(list(t2.columns)),
        f'<p class="muted">{intervals_note(config)}</p>',
        "<details><summary>Per instrument pair ({} rows)</summary>\n{}\n{}\n</details>".format(
            len(pp),
            table_html(pp, group_by=[c for c in ("source", "target") if c in pp.columns]),
            definitions_html(list(pp.columns)),
        ),
    ]
    if paired is not None:
        body.append(
            f"<details><summary>Paired comparisons ({len(paired)} rows: each strategy minus "
            f"{esc(', '.join(sorted(set(paired['baseline']))))} on the same edits)</summary>\n"
            + table_html(paired, {"difference": ("low", "high")}, mark_best=False)
            + definitions_html(list(paired.columns))
            + "\n</details>"
        )
    body.append(_csv_links(media, csvs))
    return _section("table2", "Table II: swap strategies", "\n".join(body))


def _table1_section(table1, media: _Media, confusion_figures, config):
    df = _read(table1, TABLE1_COLUMNS, "Table I (classifiers)")
    note = ""
    if _get(config, "data", "source") == "embedded":
        df["eval_set"] = df["eval_set"].astype(str).str.replace(r"^irmas_", "embedded_", regex=True)
        fonts = _get(config, "data", "soundfonts", default=[])
        heldout = _get(config, "data", "heldout_soundfont")
        note = (
            " On this run the clips are the embedded dataset's rendered clips (soundfonts: "
            f"{esc(', '.join(str(f) for f in fonts))}), so the workflow's "
            "<code>irmas_*</code> sets are shown as <code>embedded_*</code>."
        )
        if heldout and (df["eval_set"] == "heldout_soundfont").any():
            note += (
                f" <code>heldout_soundfont</code>: clips rendered from {esc(str(heldout))}, which no classifier "
                "and no generator trained on (other scores; each instrument's own General MIDI patch)."
            )
    n_inst = len(_get(config, "instruments", default=[]))
    chance = f" Chance is 1/{n_inst} = {1 / n_inst:.3f}." if n_inst else ""
    body = [
        f"<p>Top-1 instrument accuracy of the classifiers (paper Table I) on the held-out test split of the "
        "dataset (split by recording; the epoch was selected on <code>val</code>, see <code>selected_by</code>) "
        f"and on the source generations labelled by their prompt (<code>generated</code>).{chance}{note} "
        "<code>judge</code> is the independent judge of Table II's <code>judge_acc</code>. The best accuracy "
        "is marked within each evaluation set.</p>",
        table_html(df, {"accuracy": ("ci_low", "ci_high")}, group_by=["eval_set"]),
        definitions_html(list(df.columns)),
        '<p class="muted">Intervals: percentile bootstrap over the scored clips.</p>',
        _csv_links(media, {"t1": table1}),
    ]
    figs = []
    for p in confusion_figures:
        name = Path(p).stem.replace("confusion_", "")
        link = media.link(p, f"classifiers/{Path(p).name}")
        alt = f"Confusion matrices of the {name} classifier: true instrument by row, predicted by column, counts"
        figs.append(
            f"<figure>{img(link, alt)}"
            f"<figcaption>{esc(name)}: rows true instrument, columns predicted (click for full size)."
            "</figcaption></figure>"
        )
    if figs:
        body.append(
            '<details open><summary>Confusion matrices</summary>\n<div class="figs">'
            + "\n".join(figs)
            + "</div>\n</details>"
        )
    return _section("table1", "Table I: instrument classifiers", "\n".join(body))


def _registered_section(spec: TableSpec, csv, config, media: _Media):
    df = _read(csv, [spec.label] if spec.label else [], spec.title)
    eligible = None
    if spec.label in df.columns:
        eligible = ~df[spec.label].astype(str).str.endswith(V.CHANGED_SUFFIX)
    kw = dict(group_by=[g for g in spec.group_by if g in df.columns], eligible=eligible, mark_best=spec.mark_best)
    body = [
        f"<p>{spec.intro}</p>" if spec.intro else "",
        _folded(df, spec.title, spec.pooled, spec.fold_rows, **kw),
        definitions_html(list(df.columns), spec.definitions),
        f'<p class="muted">{intervals_note(config)}</p>',
        _csv_links(media, {spec.key: csv}),
    ]
    return _section(spec.key, spec.title, "\n".join(b for b in body if b))


def _sweep_section(sweep: pd.DataFrame | None, sweep_table, sweep_figure, ref, media: _Media):
    body = [
        "<p>Edits with the swap at fixed steps K across the trajectory (fixed:K, tuning sources): early "
        "swaps regenerate the music, late swaps keep the source instrument.</p>"
    ]
    if sweep_figure is not None:
        link = media.link(sweep_figure, "sweep.png")
        alt = (
            "Chroma distance and instrument accuracy against the swap step: pooled over pairs with intervals, "
            "each pair as a thin line"
        )
        body.append(
            f"<figure>{img(link, alt)}<figcaption>Metrics by swap step (click for full size).</figcaption></figure>"
        )
    if sweep is not None:
        body.append(_folded(sweep, "Every step and pair", ("source", "all"), 24, mark_best=False))
        body.append(definitions_html(list(sweep.columns)))
        if ref is not None:
            body.append(
                "<p>Chroma distance between two <i>different</i> sources of the same instrument (what "
                "losing the music looks like):</p>" + table_html(ref, mark_best=False)
            )
        body.append(_csv_links(media, {"sweep": sweep_table}))
    return _section("sweep", "Swap-step sweep", "\n".join(body))


# -- listening -------------------------------------------------------------------------------------
def _card(title: str, wav, name: str, media: _Media, lines: Sequence[str], label: str, copy_as: str | None = None):
    link, gain_db = media.listen(wav, copy_as or name + ".wav")
    spec = media.spectrogram(wav, name)
    lines = [
        *lines,
        f'<span class="muted">played at {gain_db:+.1f} dB (every player at {LISTEN_RMS_DB:g} dBFS RMS)</span>',
    ]
    meta = "".join(f"<p>{line}</p>" for line in lines)
    return (
        f'<div class="card"><h4>{esc(title)}</h4>'
        f"{img(spec, f'Mel spectrogram of {label}')}{_audio_player(link, label)}{meta}</div>"
    )


def _judged(items_csvs: Sequence[str | Path]) -> dict[tuple[str, str, str], dict]:
    """(strategy slug, item, target) -> the metrics row of that edit (what the judges heard)."""
    out = {}
    for path in items_csvs:
        df = read_table(path, ["item", "target"], "scoring")
        slug = Path(path).parent.name
        for r in df.to_dict("records"):
            out[(slug, str(r.get("item")), str(r.get("target")))] = r
    return out


def _gallery_section(sources_dirs, swaps_csvs, strategies, examples, items_csvs, config, media: _Media):
    by_folder = {(Path(p).parent.parent.name, Path(p).parent.name): Path(p) for p in swaps_csvs}
    methods = []
    for strategy in strategies:
        slug = strategy_slug(strategy)
        for source, target in examples:
            if (slug, pair_name(source, target)) not in by_folder:
                raise ExperimentError(
                    f"no swaps.csv of the {strategy} edits of {pair_name(source, target)} was "
                    f"given to the report (expected .../{slug}/{pair_name(source, target)}/swaps.csv)"
                )
        root = next(p.parent.parent for (sl, _), p in by_folder.items() if sl == slug)
        methods.append(EditMethod(strategy, slug, root))
    intro = (
        "<p>For each example: the source generation and every strategy's edit of it, each with its mel "
        "spectrogram and player, the step it swapped at and why (<code>swaps.csv</code>), and what the "
        "judges heard (the teacher's top-1 and, when the run has it, the independent judge's).</p>"
    )
    body = [intro] + pair_listening(examples, sources_dirs, methods, _judged(items_csvs), config, media, "gallery")
    return _section("gallery", "Listen: each strategy's edit of the same source", "\n".join(body))


@dataclass(frozen=True)
class EditMethod:
    """One row of a listening section: ``label`` (shown), ``slug`` (the folder name of its ``items.csv``, what
    the judges heard) and ``root``, whose ``<source>_to_<target>/swaps.csv`` lists its edits of a pair."""

    label: str
    slug: str
    root: Path


def pair_listening(
    pairs, sources_dirs, methods: Sequence[EditMethod], judged, config, media: _Media, prefix: str
) -> list[str]:
    """Per (source, target) of ``pairs``: the first source (``sources_dirs[source]``'s ``items.csv``) that the
    first method edited, its recording when it is an inverted one, and each method's edit of it with its
    spectrogram, player, swap step, reason and what the judges heard. The one listening layout of the page
    (the gallery, Table III, Table IV); audio is copied to ``assets/<prefix>/<pair>/``."""
    steps = _get(config, "model", "steps", default="N")
    blocks = []
    for source, target in pairs:
        pair = pair_name(source, target)
        swaps = {m.slug: read_table(m.root / pair / "swaps.csv", SWAP_COLUMNS, f"edits ({m.label})") for m in methods}
        sources = read_sources(sources_dirs[source])
        edited = set(swaps[methods[0].slug]["item"].astype(str))
        match = sources[sources["item"].astype(str).isin(edited)]
        if match.empty:
            raise ExperimentError(
                f"{methods[0].root / pair / 'swaps.csv'} edits none of the sources "
                f"{list(sources['item'])}; rerun the edits"
            )
        item = match.iloc[0]
        cards = []
        if str(item.get("recording", "") or "") not in ("", "nan"):
            cards.append(
                _card(
                    f"recording: {_name(source)}",
                    item["recording"],
                    f"{prefix}/{pair}/recording",
                    media,
                    ["the input recording"],
                    f"input recording ({_name(source)})",
                    copy_as=f"{prefix}/{pair}/recording.wav",
                )
            )
        title = "VAE reconstruction" if cards else f"source: {_name(source)}"
        cards.append(
            _card(
                title,
                item["audio"],
                f"{prefix}/{pair}/source",
                media,
                [f"“{esc(item['prompt'])}”"],
                f"source ({_name(source)}): {item['prompt']}",
                copy_as=f"{prefix}/{pair}/source.wav",
            )
        )
        target_prompt = ""
        for m in methods:
            rows = swaps[m.slug][swaps[m.slug]["item"] == item["item"]]
            if rows.empty:
                raise ExperimentError(
                    f"{m.root / pair / 'swaps.csv'} has no edit of {item['item']}; rerun the {m.label} edits"
                )
            edit = rows.iloc[0]
            target_prompt = target_prompt or str(edit["target_prompt"])
            lines = [
                f"swap at step <b>{esc(edit['swap_step'] or '-')}</b> / {esc(steps)}"
                + (f", σ = {esc(fmt(_float(edit['sigma']), 3))}" if edit["swap_step"] else ""),
                f"why: {esc(edit['reason'])}",
            ]
            heard = judged.get((m.slug, str(item["item"]), target))
            if heard is not None:
                said = f"teacher heard: <b>{esc(_name(heard.get('predicted', '')))}</b>"
                if heard.get("judge_predicted", "") != "":
                    said += f"; judge heard: <b>{esc(_name(heard['judge_predicted']))}</b>"
                lines.append(said)
            if edit["audio"]:
                cards.append(
                    _card(
                        m.label,
                        m.root / pair / edit["audio"],
                        f"{prefix}/{pair}/{m.slug}",
                        media,
                        lines,
                        f"{m.label} edit ({_name(source)} → {_name(target)})",
                        copy_as=f"{prefix}/{pair}/{m.slug}.wav",
                    )
                )
            else:
                cards.append(
                    f'<div class="card"><h4>{esc(m.label)}</h4><p>no edit (skipped)</p>'
                    + "".join(f"<p>{x}</p>" for x in lines)
                    + "</div>"
                )
        blocks.append(
            f'<h3>{esc(_name(source))} → {esc(_name(target))} <span class="muted">({esc(item["item"])}, '
            f"target prompt “{esc(target_prompt)}”)</span></h3>\n"
            f'<div class="cards">{"".join(cards)}</div>'
        )
    return blocks


LISTENING = {
    "table3": (
        "table3-listen",
        "Listen: MusicMagus and Diff-TONE on the same sources",
        "<p>MusicMagus (Table III) against the step-choosing strategies on MusicMagus' own pairs: the same "
        "source generation (same prompt and seed), MusicMagus' edit (its direction added to the prompt "
        "embedding, cross-attention constrained, from step 0) and each strategy's resumed edit.</p>",
    ),
    "table4": (
        "table4-listen",
        "Listen: real recordings edited",
        "<p>Recordings edited (Table IV): the input recording, its VAE reconstruction (what the inverted "
        "trajectory reproduces exactly, and what the edits' chroma is measured against) and each "
        "method's edit, ZETA's fixed step among them.</p>",
    ),
}


def _listening_section(key: str, spec: Mapping[str, Any], config, media: _Media):
    """A table's listening section (:data:`LISTENING`): ``spec`` = ``{pairs: [[source, target], ...],
    sources: {instrument: source folder}, methods: {label: [edits root, its items.csv]}}``."""
    anchor, title, intro = LISTENING[key]
    methods = [
        EditMethod(label, Path(items).parent.name, Path(root)) for label, (root, items) in spec["methods"].items()
    ]
    items_csvs = [items for _, items in spec["methods"].values()]
    body = [intro] + pair_listening(
        [tuple(p) for p in spec["pairs"]], spec["sources"], methods, _judged(items_csvs), config, media, key
    )
    return _section(anchor, title, "\n".join(body))


def _name(code: str) -> str:
    return INSTRUMENTS[code].name if code in INSTRUMENTS else str(code)


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _figure2_section(audio_dir, figure, media: _Media):
    audio_dir = Path(audio_dir)
    manifest = read_table(audio_dir / MANIFEST, MANIFEST_COLUMNS, "Figure 2 (edit_swap_steps)")
    link = media.link(figure, "swap_steps.png")
    body = [
        "<p>One source generation per example pair, edited with the instrument word swapped at several "
        "denoising steps (paper Figure 2). Step 0 regenerates from the target prompt with the same seed; "
        "step N keeps the source.</p>",
        f"<figure>{img(link, FIGURE2_ALT)}"
        "<figcaption>Mel spectrograms of the source and of each swap step (click for full size).</figcaption>"
        "</figure>",
    ]
    for (source, target), rows in manifest.groupby(["source", "target"], sort=False):
        first = rows.iloc[0]
        cards = []
        for r in rows.itertuples(index=False):
            if r.kind == "source":
                title, lines = "source", [f"“{esc(r.prompt)}”"]
            else:
                title = f"swap at step {r.swap_step} / {r.steps}"
                lines = [f"σ = {esc(fmt(_float(r.sigma), 4))}"]
            stem = Path(r.audio).with_suffix("").as_posix()
            cards.append(
                _card(
                    title,
                    audio_dir / r.audio,
                    f"swap_steps/{stem}",
                    media,
                    lines,
                    f"{_name(source)} → {_name(target)}, {title}",
                    copy_as=f"swap_steps/{r.audio}",
                )
            )
        trace = ""
        if first["trace"]:
            read = json.loads(first["trace"])
            if isinstance(read, dict):  # the classifier's probabilities at every step
                link = media.trace(read, f"{source}_to_{target}", f"{_name(source)} source: the classifier on x0_hat")
                trace = (
                    f"<figure>{img(link, f'Classifier probabilities per instrument at every step of the {_name(source)} source')}"
                    "<figcaption>The latent classifier's probabilities on x0_hat at every denoising step of "
                    "the source (noise level σ on the top axis): where the instrument gets decided."
                    "</figcaption></figure>"
                )
            else:  # a manifest written before the probabilities were kept: top-1 codes only
                trace = (
                    f'<p class="muted">Classifier top-1 on x0_hat per step of the source: '
                    f"<code>{esc(' '.join(read))}</code></p>"
                )
        body.append(
            f'<h3>{esc(_name(source))} → {esc(_name(target))} <span class="muted">({esc(first["item"])})</span></h3>\n'
            f"<p>“{esc(first['prompt'])}” → “{esc(first['target_prompt'])}”</p>\n{trace}\n"
            f'<div class="cards">{"".join(cards)}</div>'
        )
    return _section("figure2", "Figure 2: swapping at different steps", "\n".join(body))


def _loss_section(loss_figure, media: _Media):
    link = media.link(loss_figure, "demo_loss.png")
    body = (
        f"<figure>{img(link, 'Training loss of the demo generator against the training step')}"
        "<figcaption>Training loss of the demo generator (embedded default only).</figcaption></figure>"
    )
    return _section("demo", "Demo generator training", body)


# -- configuration -------------------------------------------------------------------------------------
def config_summary(config: Mapping[str, Any], model_spec: str) -> list[tuple[str, str]]:
    """The key facts of a run as (label, value) rows."""
    names = [
        f"{c} ({INSTRUMENTS[c].name})" if c in INSTRUMENTS else str(c) for c in _get(config, "instruments", default=[])
    ]
    commit = git_commit()
    return [
        ("model", f"{model_spec} ({_get(config, 'model', 'dtype')}, device {_get(config, 'device')})"),
        ("denoising steps N", str(_get(config, "model", "steps"))),
        ("duration (s)", str(_get(config, "model", "duration"))),
        ("guidance scale", str(_get(config, "model", "guidance_scale"))),
        ("instruments", ", ".join(names)),
        ("swap strategies", ", ".join(map(str, _get(config, "edits", "strategies", default=[])))),
        ("no-change policy (difftone)", str(_get(config, "swap", "no_change_policy"))),
        ("seeds", ", ".join(map(str, _get(config, "generation", "seeds", default=[])))),
        (
            "prompts per instrument",
            f"{_get(config, 'prompts', 'n_per_instrument')} (source: {_get(config, 'prompts', 'source')})",
        ),
        ("data", str(_get(config, "data", "source"))),
        (
            "teacher features",
            f"{_get(config, 'teacher_features', 'kind', default='mert')} "
            f"{_get(config, 'teacher_features', 'spec')}".strip(),
        ),
        ("CLAP checkpoint (KAD)", str(_get(config, "metrics", "clap", "checkpoint"))),
        ("git commit", commit or "not available (not a git checkout)"),
    ]


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``path`` (default: this package), ``+dirty`` when
    tracked files changed; ``None`` when it is not a git checkout or git is missing."""
    where = str(Path(path) if path is not None else Path(__file__).resolve().parent)
    try:
        head = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _summary_section(config, model_spec):
    rows = "\n".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in config_summary(config, model_spec)
    )
    full = yaml.safe_dump(_plain(config), sort_keys=False)
    body = (
        f'<div class="scroll"><table>\n{rows}\n</table></div>\n<details><summary>Full configuration</summary>\n'
        f"<pre>{esc(full)}</pre>\n</details>"
    )
    return _section("config", "Run configuration", body)


def _plain(value):
    """Config as plain YAML-able data (Snakemake's config holds its own mapping types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _multi_listening_section(multi_dir, config, media: _Media):
    """Table V's duet edits: per (source duet, target duet), its first source and each strategy's edit,
    with each word's swap step (``results/multi/{sources,edits}.csv``)."""
    multi_dir = Path(multi_dir)
    sources = read_table(multi_dir / "sources.csv", ["item", "prompt", "audio"], "Table V (edit_duets)")
    edits = read_table(
        multi_dir / "edits.csv",
        ["strategy", "item", "source", "target", "word_steps", "audio", "target_prompt", "reason"],
        "Table V (edit_duets)",
    )
    steps = _get(config, "model", "steps", default="N")
    body = [
        "<p>Both instruments of a duet edited at once (Table V): the source and each strategy's edit, "
        "with the step each word was swapped at (the prompt changes word by word in one resumed run) "
        "and why.</p>"
    ]
    for (src, tgt), group in edits.groupby(["source", "target"], sort=False):
        item = group["item"].iloc[0]
        source = sources[sources["item"] == item].iloc[0]
        name = f"multi/{item}_to_{tgt}"
        cards = [
            _card(
                f"source: {src}",
                source["audio"],
                f"{name}/source",
                media,
                [f"“{esc(source['prompt'])}”"],
                f"source duet ({src}): {source['prompt']}",
                copy_as=f"{name}/source.wav",
            )
        ]
        for r in group[group["item"] == item].itertuples(index=False):
            slug = strategy_slug(r.strategy)
            words = ", ".join(f"{k} at step {v}" for k, v in json.loads(r.word_steps).items())
            lines = [f"{esc(words)} (of {esc(steps)})", f"why: {esc(r.reason)}", f"“{esc(r.target_prompt)}”"]
            if r.audio:
                cards.append(
                    _card(
                        r.strategy,
                        r.audio,
                        f"{name}/{slug}",
                        media,
                        lines,
                        f"{r.strategy} edit ({src} → {tgt})",
                        copy_as=f"{name}/{slug}.wav",
                    )
                )
            else:
                cards.append(
                    f'<div class="card"><h4>{esc(r.strategy)}</h4><p>no edit (skipped)</p>'
                    + "".join(f"<p>{x}</p>" for x in lines)
                    + "</div>"
                )
        body.append(
            f'<h3>{esc(src)} → {esc(tgt)} <span class="muted">({esc(item)})</span></h3>\n'
            f'<div class="cards">{"".join(cards)}</div>'
        )
    return _section("table5-listen", "Listen: two instruments edited at once", "\n".join(body))


def _page(sections: Sequence[tuple[str, str, str]], config, model_spec) -> str:
    nav = " ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    generator = dict((w, d) for w, d, _ in V.run_facts(config, V.run_spec(config, model_spec)))["generator"]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>difftone report: Diff-TONE instrument editing</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        "<h1>difftone report</h1>\n"
        '<p class="muted">Instrument editing by swapping the prompt\'s instrument word at a denoising step chosen '
        f"by a classifier reading x0_hat (Diff-TONE). Generator of this run: {esc(generator)}. Written {stamp}.</p>\n"
        f"<nav>{nav}</nav>\n" + "\n".join(s for _, _, s in sections) + "\n</body>\n</html>\n"
    )
