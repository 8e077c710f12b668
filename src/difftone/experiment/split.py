"""The tuning/test split of the source generations (``results/sources/split.csv``).

Per instrument, ``tuning_per_instrument`` of its sources are drawn (seeded by
``seed`` and the instrument only) into the ``tuning`` part; the others are the
``test`` part. The sweep and every setting read off it (``metrics.success.max_chroma``,
``sigma:S``, agree/probe thresholds, the defaults) use only tuning sources; Table
II, the per-pair and the paired tables only test sources, so no policy is judged
on the items it was tuned on. A source is the unit: all of its edits (every target,
every strategy) fall in its part.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from difftone.experiment.items import ExperimentError, read_table
from difftone.experiment.sources import read_sources
from difftone.files import atomic_path
from difftone.instruments import INSTRUMENTS

log = logging.getLogger(__name__)

SPLIT_COLUMNS = ["item", "instrument", "part"]
PARTS = ("tuning", "test")


def split_sources(
    sources_dirs: Mapping[str, str | Path], out_csv: str | Path, *, tuning_per_instrument: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Draw each instrument's tuning sources; write ``item, instrument, part`` to ``out_csv``."""
    if tuning_per_instrument < 1:
        raise ExperimentError(f"evaluation.tuning_per_instrument must be >= 1, got {tuning_per_instrument}")
    rows = []
    for code, folder in sources_dirs.items():
        items = sorted(read_sources(folder)["item"])
        if len(items) <= tuning_per_instrument:
            raise ExperimentError(
                f"{folder}: instrument {code} has {len(items)} source(s) but evaluation.tuning_per_instrument is "
                f"{tuning_per_instrument}: no test source would remain; add prompts (prompts.n_per_instrument) or "
                "seeds (generation.seeds), or lower evaluation.tuning_per_instrument"
            )
        rng = np.random.default_rng([seed, list(INSTRUMENTS).index(code) if code in INSTRUMENTS else 99])
        tuning = set(rng.choice(items, size=tuning_per_instrument, replace=False).tolist())
        rows += [{"item": i, "instrument": code, "part": "tuning" if i in tuning else "test"} for i in items]
    table = pd.DataFrame(rows, columns=SPLIT_COLUMNS)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    log.info("sources: %d tuning, %d test", (table["part"] == "tuning").sum(), (table["part"] == "test").sum())
    return table


def part_items(split_csv: str | Path, part: str) -> set[str]:
    """The source items of one part (``tuning`` or ``test``) of ``split.csv``."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    table = read_table(split_csv, SPLIT_COLUMNS, "source split (rule split_sources)")
    bad = sorted(set(table["part"]) - set(PARTS))
    if bad:
        raise ExperimentError(f"{split_csv}: unknown part(s) {bad}; rerun rule split_sources")
    return set(table.loc[table["part"] == part, "item"])


def restrict_to_part(df: pd.DataFrame, split_csv: str | Path, part: str, what: str) -> pd.DataFrame:
    """The rows of ``df`` (an ``item`` column) whose source is in ``part``; an error when none is."""
    keep = df["item"].isin(part_items(split_csv, part))
    if not keep.any():
        raise ExperimentError(
            f"{what}: none of its {len(df)} rows is a {part} source of {split_csv}; "
            "rerun the edits and metrics after rule split_sources"
        )
    return df[keep]
