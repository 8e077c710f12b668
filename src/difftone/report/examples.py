"""Which edits the report shows: the example pairs and the swap steps of Figure 2."""

from __future__ import annotations

import math
from typing import Sequence

from difftone.config import ConfigError

# The pairs the paper's figures and listening examples use (piano -> violin, piano -> acoustic
# guitar, violin -> piano): `report.examples: null` shows those present in `instruments`.
DEFAULT_EXAMPLES: tuple[tuple[str, str], ...] = (("pia", "vio"), ("pia", "gac"), ("vio", "pia"))


def example_pairs(examples: Sequence[Sequence[str]] | None, instruments: Sequence[str]) -> list[tuple[str, str]]:
    """The (source, target) pairs the report shows.

    ``examples``: the config's ``report.examples``; ``None`` picks the paper's pairs whose
    instruments are both configured, or else the first two instruments both ways. An explicit
    pair naming an instrument that is not in ``instruments`` (or the same one twice) is a
    :class:`ConfigError` naming the key.
    """
    instruments = list(instruments)
    if examples is None:
        pairs = [(s, t) for s, t in DEFAULT_EXAMPLES if s in instruments and t in instruments]
        return pairs or [(instruments[0], instruments[1]), (instruments[1], instruments[0])]
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(examples):
        if len(pair) != 2:
            raise ConfigError(f"report.examples[{i}]: {list(pair)} is not a [source, target] pair of IRMAS codes")
        source, target = str(pair[0]), str(pair[1])
        for code in (source, target):
            if code not in instruments:
                raise ConfigError(
                    f"report.examples[{i}]: {code!r} is not one of the configured instruments "
                    f"({', '.join(instruments)}); add it to `instruments` or choose another pair"
                )
        if source == target:
            raise ConfigError(f"report.examples[{i}]: source and target are both {source!r}; an edit needs two")
        if (source, target) not in pairs:
            pairs.append((source, target))
    if not pairs:
        raise ConfigError("report.examples is empty; list at least one [source, target] pair or set it to null")
    return pairs


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
