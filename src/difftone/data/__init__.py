"""The data stage: the embedded (rendered) dataset, real IRMAS, and one clip index for both.

- :mod:`difftone.data.render`: render an IRMAS-layout dataset from the GM soundfont, offline.
- :mod:`difftone.data.irmas`: IRMAS names, download (md5-checked) and extraction.
- :mod:`difftone.data.index`: scan/validate clips -> ``clips.csv`` + ``rejected.csv``;
  stratified seeded split -> ``index.csv``.
"""

from __future__ import annotations


class DataError(ValueError):
    """A dataset-level problem: unknown instrument folder, checksum mismatch, too few clips."""


from difftone.data.index import read_index, scan_clips, split_clips  # noqa: E402
from difftone.data.irmas import download, extract, find_root, parse_name  # noqa: E402
from difftone.data.render import read_duets, render_duets, render_embedded  # noqa: E402

__all__ = [
    "DataError",
    "download",
    "extract",
    "find_root",
    "parse_name",
    "read_index",
    "read_duets",
    "render_duets",
    "render_embedded",
    "scan_clips",
    "split_clips",
]
