"""The report page: one self-contained static HTML file (inline CSS, no network assets) with
relative links to the images and audio beside it.

Layout of the report folder (``results/report/``)::

    index.html                     the page
    assets/                        copies of the figures and of the gallery's audio (written by write_report)
    audio/swap_steps/              Figure 2's audio (rule edit_swap_steps), linked in place

Media already inside the report folder are linked where they are; anything else is copied
into ``assets/``, so the folder can be zipped and opened anywhere. ``assets/`` is built in a
temporary folder and renamed, ``index.html`` written atomically, and every local link of the
page is checked to exist before either is put in place.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import yaml

from difftone.experiment.items import (
    ExperimentError,
    pair_name,
    read_table,
    strategy_slug,
)
from difftone.experiment.sources import read_sources
from difftone.files import atomic_folder, atomic_path
from difftone.instruments import INSTRUMENTS
from difftone.experiment.swap_steps import MANIFEST, MANIFEST_COLUMNS

log = logging.getLogger(__name__)

TABLE1_COLUMNS = ["classifier", "eval_set", "accuracy", "ci_low", "ci_high", "n"]
TABLE2_COLUMNS = ["method", "chroma", "kad", "inst_acc", "judge_acc", "edits"]
PER_PAIR_COLUMNS = ["strategy", "source", "target", "n", "chroma", "kad", "inst_acc"]
SWAP_COLUMNS = ["item", "swap_step", "sigma", "reason", "target_prompt", "audio"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1150px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; } .muted { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: middle; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } audio { height: 32px; width: 260px; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; } pre { padding: 0.6em; overflow-x: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; } .figs img { max-width: 48%; }
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
) -> Path:
    """Write the report page ``out_html`` and its ``assets/`` folder beside it.

    ``config``: the validated workflow config (summarized at the top, in full in a collapsible
    block); ``model_spec``: the spec the model jobs load; tables: the workflow's CSVs;
    ``swap_steps_audio``/``swap_steps_figure``: the Figure 2 audio folder (rule edit_swap_steps) and figure (rule plot_swap_steps);
    ``sources_dirs`` (instrument -> folder) and ``swaps_csvs`` (the ``<strategy>/<source>_to_<target>/swaps.csv``
    of every strategy and example pair): the audio gallery of each strategy's edit of the example
    pairs' first source item. Optional figures
    and the sweep are shown when given. Returns the page's path.
    """
    out_html = Path(out_html)
    page_dir = out_html.parent
    assets = page_dir / "assets"
    with atomic_folder(assets) as tmp:
        media = _Media(page_dir, assets, tmp)
        sections = [
            _summary_section(config, model_spec),
            _table1_section(table1, media, confusion_figures),
            _table2_section(table2, per_pair),
        ]
        if sweep_table is not None or sweep_figure is not None:
            sections.append(_sweep_section(sweep_table, sweep_figure, media))
        sections.append(_figure2_section(swap_steps_audio, swap_steps_figure, media))
        sections.append(_gallery_section(sources_dirs, swaps_csvs, strategies, examples, media))
        if loss_figure is not None:
            sections.append(_loss_section(loss_figure, media))
        text = _page(sections)
        missing = [link for link in local_links(text) if not media.resolve(link).is_file()]
        if missing:
            raise ExperimentError(f"{out_html}: the page would link missing files {missing[:5]}; rerun the stages "
                                  "that write them")
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
    """Relative links for media: files inside the report folder in place, others copied to assets/."""

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

    def resolve(self, link: str) -> Path:
        """Where a link of the page will point once the assets are in place (for the check)."""
        if link.startswith("assets/"):
            return self.tmp / link[len("assets/"):]
        return self.page_dir / link


# -- sections ------------------------------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _audio(link: str) -> str:
    return f'<audio controls preload="none" src="{_esc(link)}"></audio>'


def _img(link: str, alt: str) -> str:
    return f'<img src="{_esc(link)}" alt="{_esc(alt)}">'


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or _is_nan(v) or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table_html(df: pd.DataFrame, intervals: Mapping[str, tuple[str, str]] | None = None, digits: int = 3) -> str:
    """``df`` as an HTML table; each estimate with its interval as ``est [low, high]``.

    ``intervals``: column -> (low column, high column); columns ``X_low``/``X_high`` pair with
    ``X`` automatically.
    """
    intervals = dict(intervals or {})
    for col in df.columns:
        if f"{col}_low" in df.columns and f"{col}_high" in df.columns:
            intervals.setdefault(col, (f"{col}_low", f"{col}_high"))
    shown = pd.DataFrame(index=df.index)
    dropped = {c for pair in intervals.values() for c in pair}
    for col in df.columns:
        if col in dropped:
            continue
        if col in intervals:
            low, high = intervals[col]
            shown[f"{col} [CI]"] = [
                "" if _fmt(e) == "" else f"{_fmt(e, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"
                for e, lo, hi in zip(df[col], df[low], df[high])
            ]
        else:
            shown[col] = [_fmt(v, digits) for v in df[col]]
    return shown.to_html(index=False, escape=True, border=0, na_rep="")


def _section(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    return anchor, title, f'<section id="{anchor}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


def config_summary(config: Mapping[str, Any], model_spec: str) -> list[tuple[str, str]]:
    """The key facts of a run as (label, value) rows."""
    def get(*keys, default=""):
        node: Any = config
        for k in keys:
            if not isinstance(node, Mapping) or k not in node:
                return default
            node = node[k]
        return node

    names = [f"{c} ({INSTRUMENTS[c].name})" if c in INSTRUMENTS else str(c) for c in get("instruments", default=[])]
    commit = git_commit()
    return [
        ("model", f"{model_spec} ({get('model', 'dtype')}, device {get('device')})"),
        ("denoising steps N", str(get("model", "steps"))),
        ("duration (s)", str(get("model", "duration"))),
        ("guidance scale", str(get("model", "guidance_scale"))),
        ("instruments", ", ".join(names)),
        ("swap strategies", ", ".join(map(str, get("edits", "strategies", default=[])))),
        ("no-change policy (difftone)", str(get("swap", "no_change_policy"))),
        ("seeds", ", ".join(map(str, get("generation", "seeds", default=[])))),
        ("prompts per instrument", f"{get('prompts', 'n_per_instrument')} (source: {get('prompts', 'source')})"),
        ("data", str(get("data", "source"))),
        ("teacher features", str(get("teacher_features", "kind")) + ("" if get("teacher_features", "kind") == "logmel" else f" {get('teacher_features', 'spec')}")),
        ("CLAP checkpoint (KAD)", str(get("metrics", "clap", "checkpoint"))),
        ("git commit", commit or "not available (not a git checkout)"),
    ]


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``path`` (default: this package), ``+dirty`` when
    tracked files changed; ``None`` when it is not a git checkout or git is missing."""
    where = str(Path(path) if path is not None else Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _summary_section(config, model_spec):
    rows = "\n".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in config_summary(config, model_spec))
    full = yaml.safe_dump(_plain(config), sort_keys=False)
    body = (f"<table>\n{rows}\n</table>\n<details><summary>Full configuration</summary>\n"
            f"<pre>{_esc(full)}</pre>\n</details>")
    return _section("config", "Run configuration", body)


def _plain(value):
    """Config as plain YAML-able data (Snakemake's config holds its own mapping types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read(path, columns: list[str], what: str) -> pd.DataFrame:
    """A workflow table, checked (columns, rows) by read_table, with numbers parsed (empty cells NaN)."""
    read_table(path, columns, what)
    return pd.read_csv(path)


def _table1_section(table1, media: _Media, confusion_figures):
    df = _read(table1, TABLE1_COLUMNS, "Table I (classifiers)")
    body = ["<p>Top-1 instrument accuracy of the classifiers (paper Table I) on the held-out test split "
            "(<code>irmas_test</code>, split by recording; the epoch was selected on <code>val</code>, see "
            "<code>selected_by</code>) and on the source generations labelled by their prompt "
            "(<code>generated</code>), with bootstrap intervals. <code>judge</code> is the independent judge "
            "of Table II's <code>judge_acc</code>.</p>",
            table_html(df, {"accuracy": ("ci_low", "ci_high")})]
    figs = [_img(media.link(p, f"classifiers/{Path(p).name}"), Path(p).stem) for p in confusion_figures]
    if figs:
        body.append("<details open><summary>Confusion matrices</summary>\n<div class=\"figs\">"
                    + "\n".join(figs) + "</div>\n</details>")
    return _section("table1", "Table I: instrument classifiers", "\n".join(body))


def _table2_section(table2, per_pair):
    t2 = _read(table2, TABLE2_COLUMNS, "Table II (strategies)")
    pp = _read(per_pair, PER_PAIR_COLUMNS, "per-pair metrics")
    body = ("<p>Swap strategies (paper Table II): <b>chroma</b> distance to the source (lower keeps the music), "
            "<b>kad</b> of CLAP embeddings against the target instrument's training clips (lower is closer), "
            "<b>inst_acc</b> the teacher's top-1 on the edit equals the target (higher reaches the target), "
            "<b>judge_acc</b> the same by an independent judge; test sources only, every strategy on the same "
            "edits; intervals resample whole sources; <b>fallbacks</b> counts edits whose step the no-change "
            "policy chose; <b>nfe_per_edit</b> the denoiser evaluations an edit costs. Which strategy is better: "
            "see the paired comparisons (results/tables/paired.csv).</p>\n"
            + table_html(t2)
            + f"\n<details><summary>Per instrument pair ({len(pp)} rows)</summary>\n{table_html(pp)}\n</details>")
    return _section("table2", "Table II: swap strategies", body)


def _sweep_section(sweep_table, sweep_figure, media: _Media):
    body = ["<p>Metrics of edits with the swap at fixed steps across the trajectory.</p>"]
    if sweep_figure is not None:
        body.append(f"<figure>{_img(media.link(sweep_figure, 'sweep.png'), 'swap-step sweep')}</figure>")
    if sweep_table is not None:
        body.append(table_html(_read(sweep_table, [], "swap-step sweep")))
    return _section("sweep", "Swap-step sweep", "\n".join(body))


def _figure2_section(audio_dir, figure, media: _Media):
    audio_dir = Path(audio_dir)
    manifest = read_table(audio_dir / MANIFEST, MANIFEST_COLUMNS, "Figure 2 (edit_swap_steps)")
    body = ["<p>One source generation per example pair, edited with the instrument word swapped at several "
            "denoising steps (paper Figure 2). Step 0 regenerates from the target prompt with the same seed; "
            "step N keeps the source.</p>",
            f"<figure>{_img(media.link(figure, 'swap_steps.png'), 'mel spectrograms of swaps at several steps')}"
            "<figcaption>Mel spectrograms of the source and of each swap step.</figcaption></figure>"]
    for (source, target), rows in manifest.groupby(["source", "target"], sort=False):
        first = rows.iloc[0]
        lines = []
        for r in rows.itertuples(index=False):
            link = media.link(audio_dir / r.audio, f"swap_steps/{r.audio}")
            step = "source" if r.kind == "source" else f"{r.swap_step} / {r.steps}"
            lines.append(f"<tr><td>{_esc(step)}</td><td class=\"num\">{_esc(_fmt(_float(r.sigma), 4))}</td>"
                         f"<td>{_audio(link)}</td></tr>")
        trace = ""
        if first["trace"]:
            trace = (f"<p class=\"muted\">Classifier top-1 on x0_hat per step of the source: "
                     f"<code>{_esc(' '.join(json.loads(first['trace'])))}</code></p>")
        body.append(
            f"<h3>{_esc(source)} → {_esc(target)} <span class=\"muted\">({_esc(first['item'])})</span></h3>\n"
            f"<p>“{_esc(first['prompt'])}” → “{_esc(first['target_prompt'])}”</p>\n{trace}\n"
            "<table><tr><th>swap step</th><th>σ</th><th>audio</th></tr>\n" + "\n".join(lines) + "\n</table>"
        )
    return _section("figure2", "Figure 2: swapping at different steps", "\n".join(body))


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _gallery_section(sources_dirs, swaps_csvs, strategies, examples, media: _Media):
    by_folder = {(Path(p).parent.parent.name, Path(p).parent.name): Path(p) for p in swaps_csvs}
    body = ["<p>Each strategy's edit of the same source item: the swap step it chose and why "
            "(from <code>swaps.csv</code>).</p>"]
    for source, target in examples:
        item = read_sources(sources_dirs[source]).iloc[0]
        pair = pair_name(source, target)
        src_link = media.link(item["audio"], f"gallery/{pair}/source.wav")
        rows = [f"<tr><td>source</td><td></td><td></td><td>{_esc(item['prompt'])}</td><td>{_audio(src_link)}</td></tr>"]
        for strategy in strategies:
            slug = strategy_slug(strategy)
            swaps_csv = by_folder.get((slug, pair))
            if swaps_csv is None:
                raise ExperimentError(f"no swaps.csv of the {strategy} edits of {pair} was given to the report "
                                      f"(expected .../{slug}/{pair}/swaps.csv)")
            swaps = read_table(swaps_csv, SWAP_COLUMNS, f"edits ({strategy})")
            match = swaps[swaps["item"] == item["item"]]
            if match.empty:
                raise ExperimentError(f"{swaps_csv} has no edit of {item['item']}; rerun the {strategy} edits")
            edit = match.iloc[0]
            player = "no edit (skipped)"
            if edit["audio"]:
                player = _audio(media.link(swaps_csv.parent / edit["audio"], f"gallery/{pair}/{slug}.wav"))
            rows.append(f"<tr><td>{_esc(strategy)}</td><td class=\"num\">{_esc(edit['swap_step'])}</td>"
                        f"<td>{_esc(edit['reason'])}</td><td>{_esc(edit['target_prompt'])}</td><td>{player}</td></tr>")
        body.append(f"<h3>{_esc(source)} → {_esc(target)} <span class=\"muted\">({_esc(item['item'])})</span></h3>\n"
                    "<table><tr><th>strategy</th><th>swap step</th><th>reason</th><th>prompt</th><th>audio</th></tr>\n"
                    + "\n".join(rows) + "\n</table>")
    return _section("gallery", "Audio gallery: edits per strategy", "\n".join(body))


def _loss_section(loss_figure, media: _Media):
    body = (f"<figure>{_img(media.link(loss_figure, 'demo_loss.png'), 'demo model training loss')}"
            "<figcaption>Training loss of the demo generator (embedded default only).</figcaption></figure>")
    return _section("demo", "Demo generator training", body)


def _page(sections: Sequence[tuple[str, str, str]]) -> str:
    nav = " ".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t, _ in sections)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>difftone report: Diff-TONE instrument editing</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        "<h1>difftone report</h1>\n"
        "<p class=\"muted\">Instrument editing in Stable Audio Open by swapping the prompt's instrument word at a "
        f"denoising step chosen by a classifier on x0_hat (Diff-TONE). Written {stamp}.</p>\n"
        f"<nav>{nav}</nav>\n" + "\n".join(s for _, _, s in sections) + "\n</body>\n</html>\n"
    )
