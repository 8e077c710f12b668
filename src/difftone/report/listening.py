"""The listening sections of the report's tables (Table III, Table IV): which pairs, sources and methods
they play, derived from the files the report is given and the table's own CSV.

A section's files (:func:`listening_files` lists them for the workflow's input function):

- ``<edits root>/<slug>/<source>_to_<target>/swaps.csv``: a method's edits of a pair; the pairs are
  played in the order of the first method's files;
- ``<metrics>/<slug>/items.csv`` (a ``target`` column): what the judges heard on that method's edits;
- a source folder's ``<instrument>/items.csv`` (a ``trajectory`` column), or a folder of such
  instrument folders (the inverted recordings of Table IV).

The methods are the table's ``method`` rows in order; a method's folder is its slug (``fixed:2`` ->
``fixed-2``) or its first word (``zeta (fixed:15)`` -> ``zeta``). Light: no torch (the workflow imports it
while it parses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from difftone.experiment.items import ExperimentError, pair_name, strategy_slug


def listening_files(
    pairs: Sequence[Sequence[str]], sources: Sequence[str], methods: Mapping[str, Sequence[str]]
) -> list[str]:
    """The files of a listening section: ``sources`` (source folders' ``items.csv`` or a folder of
    instrument folders), then per method (slug -> (edits root, its metrics items.csv)) its items.csv and
    its ``swaps.csv`` of each of ``pairs``, in order."""
    files = list(sources)
    for root, items in methods.values():
        files.append(str(items))
        files += [f"{root}/{pair_name(s, t)}/swaps.csv" for s, t in pairs]
    return files


def listening_layout(files: Sequence[str | Path], table_csv: str | Path) -> dict[str, Any]:
    """``{pairs, sources, methods}`` of a listening section (module doc): ``pairs`` [[source, target]],
    ``sources`` {instrument: folder}, ``methods`` {label: [edits root, items.csv]} in the table's order."""
    swaps: dict[str, dict[str, Path]] = {}  # slug -> pair -> swaps.csv
    judged: dict[str, Path] = {}
    sources: dict[str, Path] = {}
    for f in map(Path, files):
        if f.name == "swaps.csv":
            swaps.setdefault(f.parent.parent.name, {})[f.parent.name] = f
        elif f.is_dir():
            sources.update({d.name: d for d in sorted(f.iterdir()) if (d / "items.csv").is_file()})
        elif f.name == "items.csv" and "trajectory" in _columns(f):
            sources[f.parent.name] = f.parent
        elif f.name == "items.csv":
            judged[f.parent.name] = f
        else:
            raise ExperimentError(f"report: {f} is no listening file (a swaps.csv, an items.csv or a source folder)")
    if not swaps:
        raise ExperimentError(f"report: the listening files of {table_csv} hold no swaps.csv; give each method's edits")
    first = next(iter(swaps.values()))
    pairs = [name.split("_to_") for name in first]
    missing = sorted({s for s, _ in pairs} - set(sources))
    if missing:
        raise ExperimentError(
            f"report: no source folder of {', '.join(missing)} among the listening files of "
            f"{table_csv}; give the sources' items.csv"
        )
    methods = {}
    for label in _table_methods(table_csv):
        slug = _folder_of(label, swaps)
        if slug is None or any(Path(root).name == slug for root, _ in methods.values()):
            continue  # no files, or a subset row of a method already shown ("difftone (changed)")
        if slug not in judged:
            raise ExperimentError(
                f"report: no items.csv of the {label} edits ({slug}) among the listening files "
                f"of {table_csv}; give what the judges heard"
            )
        root = next(iter(swaps[slug].values())).parent.parent
        methods[label] = [root, judged[slug]]
    if not methods:
        raise ExperimentError(f"report: none of the methods of {table_csv} has listening files ({', '.join(swaps)})")
    return {"pairs": pairs, "sources": sources, "methods": methods}


def _columns(csv: Path) -> list[str]:
    import pandas as pd

    if not csv.is_file():
        raise ExperimentError(f"{csv} does not exist; run the stage that writes it before the report")
    try:
        return list(pd.read_csv(csv, nrows=0).columns)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise ExperimentError(f"{csv} is not a readable CSV ({exc}); rerun the stage that writes it") from None


def _table_methods(table_csv: str | Path) -> list[str]:
    from difftone.files import read_csv

    table = read_csv(table_csv, ["method"], what="the table's stage", error=ExperimentError)
    return list(dict.fromkeys(table["method"].astype(str)))


def _folder_of(label: str, swaps: Mapping[str, Any]) -> str | None:
    for slug in (strategy_slug(label), label.split(" ")[0]):
        if slug in swaps:
            return slug
    return None
