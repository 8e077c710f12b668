"""The data stage: the embedded (rendered) dataset, real IRMAS, and one clip index for both.

- :mod:`difftone.data.render`: render an IRMAS-layout dataset from the GM soundfont, offline.
- :mod:`difftone.data.irmas`: IRMAS names, download (md5-checked) and extraction.
- :mod:`difftone.data.index`: scan/validate clips -> ``clips.csv`` + ``rejected.csv``;
  stratified seeded split -> ``index.csv``.
"""

from __future__ import annotations

from difftone.data.errors import DataError
from difftone.data.index import read_index, scan_clips, split_clips
from difftone.data.irmas import download, extract, find_root, parse_name
from difftone.data.render import read_duets, render_duets, render_embedded

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
