"""Names and layouts shared by the experiment stages.

Source generations live in ``results/sources/<instrument>/``::

    items.csv                    item, instrument, prompt_index, seed, prompt, audio, trajectory, top1_final
    <item>/source.wav            the decoded source audio
    <item>/trajectory/           the resume cache (difftone.engine.trajectory, format 2)

Inverted recordings (Table IV) use the same layout under ``results/real_audio/sources/guidance-G/``
(``source.wav`` is the VAE reconstruction; items.csv has a ``recording`` column more).

An item id is ``<instrument>-p<prompt index:03d>-s<seed>``. Edits of one strategy
live in ``results/edits/<strategy slug>/<source>_to_<target>/`` (``<item>.wav`` and
``swaps.csv``). A strategy's slug is its name with ``:`` replaced by ``-``
(``fixed:25`` -> ``fixed-25``), so it is a valid folder and wildcard.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from difftone.files import read_csv

if TYPE_CHECKING:
    import torch

SOURCE_COLUMNS = ["item", "instrument", "prompt_index", "seed", "prompt", "audio", "trajectory", "top1_final"]
SWAP_COLUMNS = [
    "item",
    "prompt_index",
    "seed",
    "source_prompt",
    "target_prompt",
    "swap_step",
    "sigma",
    "reason",
    "audio",
    "nfe",
    "probe_nfe",
    "fallback",
    "trace",
]


class ExperimentError(ValueError):
    """A stage's inputs are unusable (empty, NaN, missing); the message names the item or file."""


def item_id(instrument: str, prompt_index: int, seed: int) -> str:
    return f"{instrument}-p{prompt_index:03d}-s{seed}"


def strategy_slug(strategy: str) -> str:
    return strategy.replace(":", "-")


def pair_name(source: str, target: str) -> str:
    return f"{source}_to_{target}"


def ordered_pairs(instruments: list[str]) -> list[tuple[str, str]]:
    return [(s, t) for s in instruments for t in instruments if s != t]


def check_finite(x: torch.Tensor | np.ndarray, what: str) -> None:
    """Stop with an error naming ``what`` when ``x`` holds NaN or infinity."""
    torch = sys.modules.get("torch")  # a tensor means torch is loaded; a job that holds none skips its 2 s import
    is_tensor = torch is not None and isinstance(x, torch.Tensor)
    finite = torch.isfinite(x).all().item() if is_tensor else bool(np.isfinite(x).all())
    if not finite:
        raise ExperimentError(
            f"{what} contains NaN or infinite values; rerun that stage (check the model weights "
            "and dtype: fp16 overflows are the usual cause)"
        )


def read_table(path, columns: list[str], what: str) -> pd.DataFrame:
    """Read a stage's CSV, checking its columns; an empty table is an error naming the file."""
    return read_csv(path, columns, what=f"the {what} stage", error=ExperimentError, keep_default_na=False)


def sigma_of(sigmas: list[float], step: int | None) -> float:
    """The noise level at which step ``step`` starts (NaN for a skipped item)."""
    if step is None or (isinstance(step, float) and math.isnan(step)):
        return float("nan")
    return float(sigmas[int(step)])
