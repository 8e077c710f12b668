"""HTML pieces of the report page: escaping, numbers, tables (arrows, best values marked, right-aligned
numbers, intervals in the estimate's cell, column definitions), audio players and linked figures."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from difftone.report.columns import ARROW, DIRECTION, definition


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def is_nan(v: Any) -> bool:
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def fmt(v: Any, digits: int = 3) -> str:
    if v is None or is_nan(v) or (isinstance(v, str) and v == ""):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}f}"
    return str(v)


def audio(link: str, label: str) -> str:
    """A labelled player; ``preload="metadata"`` shows the duration before it is played."""
    return (
        f'<div class="player"><span class="plabel">{esc(label)}</span>'
        f'<audio controls preload="metadata" src="{esc(link)}" aria-label="{esc(label)}"></audio></div>'
    )


def img(link: str, alt: str, cls: str = "") -> str:
    """An image linked to its full-size file."""
    c = f' class="{cls}"' if cls else ""
    return f'<a href="{esc(link)}"><img src="{esc(link)}" alt="{esc(alt)}"{c}></a>'


def interval_columns(df: pd.DataFrame, intervals: Mapping[str, tuple[str, str]] | None = None) -> dict:
    """Column -> (low, high) columns: those given and every ``X`` with ``X_low``/``X_high``."""
    out = dict(intervals or {})
    for col in df.columns:
        if f"{col}_low" in df.columns and f"{col}_high" in df.columns:
            out.setdefault(col, (f"{col}_low", f"{col}_high"))
    return out


def best_rows(df: pd.DataFrame, column: str, *, group_by: Sequence[str] = (), eligible=None, digits: int = 3) -> set:
    """Index labels of the rows holding the best value of ``column`` (its :data:`DIRECTION`) within each
    group of ``group_by``, ties included (compared as shown, rounded to ``digits``); ``eligible``: a
    boolean Series of the rows that compete (reference rows do not)."""
    direction = DIRECTION.get(column)
    if direction is None or column not in df.columns:
        return set()
    values = pd.to_numeric(df[column], errors="coerce").round(digits)
    if eligible is not None:
        values = values.where(eligible)
    groups = [df[g] for g in group_by if g in df.columns]
    best = set()
    for _, v in values.groupby(groups, sort=False) if groups else [(None, values)]:
        v = v.dropna()
        if len(v) < 2:
            continue
        target = v.min() if direction == "lower" else v.max()
        best |= set(v.index[v == target])
    return best


def table_html(
    df: pd.DataFrame,
    intervals: Mapping[str, tuple[str, str]] | None = None,
    digits: int = 3,
    *,
    group_by: Sequence[str] = (),
    eligible=None,
    mark_best: bool = True,
    row_class: Mapping[Any, str] | None = None,
    caption: str = "",
) -> str:
    """``df`` as an HTML table in a box that scrolls sideways on narrow screens.

    Each estimate shows its interval in its cell (``est [low, high]``); headers carry the better
    direction (↓/↑); numbers are right-aligned; the best value per column (within ``group_by``
    groups, among ``eligible`` rows) is bold and starred; ``row_class``: CSS class per index label
    (e.g. ``ref`` for reference rows).
    """
    intervals = interval_columns(df, intervals)
    dropped = {c for pair in intervals.values() for c in pair}
    columns = [c for c in df.columns if c not in dropped]
    best = (
        {c: best_rows(df, c, group_by=group_by, eligible=eligible, digits=digits) for c in columns} if mark_best else {}
    )
    head = []
    for col in columns:
        arrow = ARROW.get(DIRECTION.get(col, ""), "")
        label = f"{col} {arrow}" if arrow else col
        if col in intervals:
            label += " [CI]"
        cls = ' class="num"' if _numeric(df[col]) else ""
        head.append(f'<th scope="col"{cls} title="{esc(_plain_def(col))}">{esc(label)}</th>')
    body = []
    for idx, row in df.iterrows():
        cells = []
        for col in columns:
            v = row[col]
            if col in intervals:
                lo, hi = row[intervals[col][0]], row[intervals[col][1]]
                text = "" if fmt(v) == "" else f"{fmt(v, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
            else:
                text = fmt(v, digits)
            numeric = _numeric(df[col])
            is_best = idx in best.get(col, ())
            classes = " ".join(c for c in ("num" if numeric else "", "best" if is_best else "") if c)
            content = f"<b>{esc(text)}</b> ★" if is_best else esc(text)
            cells.append(f'<td class="{classes}">{content}</td>' if classes else f"<td>{content}</td>")
        rc = (row_class or {}).get(idx, "")
        body.append((f'<tr class="{rc}">' if rc else "<tr>") + "".join(cells) + "</tr>")
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        '<div class="scroll"><table>'
        + cap
        + "<thead><tr>"
        + "".join(head)
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table></div>"
    )


def definitions_html(columns: Iterable[str], extra: Mapping[str, str] | None = None) -> str:
    """A definition list of the columns (bounds of intervals left out: the intervals are described once)."""
    items = []
    for col in columns:
        if col.endswith(("_low", "_high")) or col in ("ci_low", "ci_high"):
            continue
        arrow = ARROW.get(DIRECTION.get(col, ""), "")
        better = f' <span class="muted">({DIRECTION[col]} is better {arrow})</span>' if arrow else ""
        items.append(f"<dt>{esc(col)}</dt><dd>{definition(col, extra)}{better}</dd>")
    return '<details class="defs"><summary>What the columns mean</summary><dl>' + "".join(items) + "</dl></details>"


def _plain_def(col: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", definition(col))


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
