"""The rows of Table IV from the config, without torch or pandas (Snakemake reads them while it parses
the workflow): the swap strategies at the configured guidance, and ZETA's row."""

from __future__ import annotations

from typing import Mapping, Sequence


def inversion_label(guidance: float) -> str:
    """The folder of one inversion setting: ``guidance-3``, ``guidance-1.5``."""
    return f"guidance-{float(guidance):g}"


def table4_rows(strategies: Sequence[str], steps: int, source_guidance: float, target_guidance: float,
                zeta: Mapping | None) -> dict[str, dict]:
    """Row slug -> {method, strategy, inversion, source_guidance, target_guidance} of Table IV, in order."""
    rows = {s.replace(":", "-"): {"method": s, "strategy": s, "source_guidance": float(source_guidance),
                                  "target_guidance": float(target_guidance)} for s in strategies}
    if zeta and zeta.get("enabled", True):
        k = int(round(float(zeta["edit_from"]) * int(steps)))
        rows["zeta"] = {"method": f"zeta (fixed:{k})", "strategy": f"fixed:{k}",
                        "source_guidance": float(zeta["source_guidance"]),
                        "target_guidance": float(zeta["target_guidance"])}
    for row in rows.values():
        row["inversion"] = inversion_label(row["source_guidance"])
    return rows
