"""Files the stages hand each other.

Atomic writes (:func:`atomic_path`, :func:`atomic_folder`): a killed or failing writer never
leaves a half-written file or folder under its final name, so Snakemake never takes a partial
output as done. One CSV reader (:func:`read_csv`): a missing file, a missing column or an empty
table is a one-line error naming the file and the stage that writes it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; if the block succeeds it replaces ``path``
    (an old folder of that name is removed), else it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` to ``dst``; copy where the file system has no hard links (another device)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(src: str | Path, dst: str | Path, log: str | Path | None = None) -> Path:
    """``dst``: the folder tree ``src`` with every file hard-linked (or copied), replacing ``dst`` atomically;
    ``log``: a file that says what was linked (a rule's log)."""
    if not Path(src).is_dir():
        raise FileNotFoundError(f"{src} does not exist: the job that writes it did not finish; rerun it")
    with atomic_folder(dst) as tmp:
        shutil.copytree(src, tmp, copy_function=link_or_copy, dirs_exist_ok=True)
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(f"linked {src} -> {dst}\n")
    return Path(dst)


class TableError(ValueError):
    """A CSV that a stage wrote is missing, unreadable, lacks columns or has no rows."""


def read_csv(
    path: str | Path,
    required_columns: Sequence[str] = (),
    *,
    what: str,
    error: type[Exception] = TableError,
    allow_empty: bool = False,
    **read_kwargs,
) -> pd.DataFrame:
    """Read the CSV ``path`` with :func:`pandas.read_csv` (``read_kwargs``), checking that it exists,
    has ``required_columns`` and, unless ``allow_empty``, at least one row.

    ``what`` names what writes the file (``"the edit stage"``, ```snakemake results/data/index.csv```);
    every error is an ``error`` naming the file and telling to run ``what``.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} does not exist; run {what} first")
    try:
        table = pd.read_csv(path, **read_kwargs)
    except pd.errors.EmptyDataError:
        raise error(f"{path} is empty (not even a header); rerun {what}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not a readable CSV ({exc}); rerun {what}") from None
    missing = [c for c in required_columns if c not in table.columns]
    if missing:
        has = ", ".join(map(str, table.columns)) or "none"
        raise error(f"{path} lacks column(s) {', '.join(missing)} (it has {has}); rerun {what}")
    if table.empty and not allow_empty:
        raise error(f"{path} has no rows; rerun {what}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m difftone.files link SRC DST [--log LOG]``: :func:`link_tree` for a shell rule
    (``link_sources``), which Snakemake runs in a thread: a ``run:`` rule would re-read the whole
    workflow in a subprocess, about 5 s a job on 2 CPU cores."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m difftone.files")
    sub = parser.add_subparsers(dest="command", required=True)
    link = sub.add_parser("link", help="hard-link (or copy) the folder SRC to DST, replacing DST")
    link.add_argument("src")
    link.add_argument("dst")
    link.add_argument("--log", default=None, help="a file that says what was linked")
    args = parser.parse_args(argv)
    try:
        link_tree(args.src, args.dst, log=args.log)
    except FileNotFoundError as exc:
        parser.exit(1, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
