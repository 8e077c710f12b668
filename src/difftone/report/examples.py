"""Which edits the report shows: the example pairs (checked with the config, in
:mod:`difftone.config`) the swap steps of Figure 2 and the listening gallery's pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from difftone.config import DEFAULT_EXAMPLES, ConfigError, example_pairs

__all__ = ["DEFAULT_EXAMPLES", "example_pairs", "gallery_pairs", "swap_steps_of"]


def swap_steps_of(fractions: Sequence[float], steps: int) -> list[int]:
    """Swap steps ``round(f * N)`` of the fractions ``f`` of ``N = steps`` (halves round up), sorted, unique."""
    out = set()
    for f in fractions:
        if not 0.0 <= float(f) <= 1.0:
            raise ConfigError(f"report.swap_steps: {f} is not a fraction of the steps in [0, 1]")
        out.add(int(math.floor(float(f) * steps + 0.5)))
    return sorted(out)


def gallery_pairs(examples: Sequence[tuple[str, str]], instruments: Sequence[str]) -> list[tuple[str, str]]:
    """The listening examples: the example pairs, then one pair for every instrument that is no example's
    source yet (to the next configured instrument), so every source instrument is heard."""
    instruments = list(instruments)
    pairs = list(examples)
    sources = {s for s, _ in pairs}
    for i, code in enumerate(instruments):
        if code not in sources and len(instruments) > 1:
            pairs.append((code, instruments[(i + 1) % len(instruments)]))
    return pairs
