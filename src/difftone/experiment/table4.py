"""The rows of Table IV from the config, without torch or pandas (Snakemake reads them while it parses
the workflow): the swap strategies at the configured guidance, and ZETA's row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def inversion_label(guidance: float) -> str:
    """The folder of one inversion setting: ``guidance-3``, ``guidance-1.5``."""
    return f"guidance-{float(guidance):g}"


def table4_rows(
    strategies: Sequence[str], steps: int, source_guidance: float, target_guidance: float, zeta: Mapping | None
) -> dict[str, dict]:
    """Row slug -> {method, strategy, inversion, source_guidance, target_guidance, kind, sources, group} of
    Table IV, in order (``sources``: the row's sources folder under results/real_audio/sources, here its
    inversion; ``group``: the rows compared on the same edits)."""
    rows = {
        s.replace(":", "-"): {
            "method": s,
            "strategy": s,
            "source_guidance": float(source_guidance),
            "target_guidance": float(target_guidance),
        }
        for s in strategies
    }
    if zeta and zeta.get("enabled", True):
        k = int(round(float(zeta["edit_from"]) * int(steps)))
        rows["zeta"] = {
            "method": f"zeta (fixed:{k})",
            "strategy": f"fixed:{k}",
            "source_guidance": float(zeta["source_guidance"]),
            "target_guidance": float(zeta["target_guidance"]),
        }
    for row in rows.values():
        row["inversion"] = row["sources"] = inversion_label(row["source_guidance"])
        row["kind"], row["group"] = "clip", "clips"
    return rows


def long_rows(rows: Mapping[str, Mapping], long: Mapping | None) -> dict[str, dict]:
    """The rows of Table IV on long recordings (``real_audio.long``): each named row of ``rows`` (a slug of
    :func:`table4_rows`: a swap strategy or ``zeta``) on the joined clips (``long-<slug>``, ``<method> (long)``)
    and on the middle clip's passage only (``passage-<slug>``, ``<method> (passage)``). Each row edits its own
    sources folder (``sources``); ``group``: the rows whose edits are compared on the same items."""
    if not long or not long.get("enabled", True):
        return {}
    out = {}
    for kind, names in (("long", long.get("strategies") or []), ("passage", long.get("passage") or [])):
        for name in names:
            if name not in rows:
                raise ValueError(
                    f"real_audio.long.{'strategies' if kind == 'long' else 'passage'}: {name!r} is not "
                    f"a row of Table IV ({', '.join(rows)}); name one of them"
                )
            slug = f"{kind}-{name}"
            out[slug] = {
                **rows[name],
                "method": f"{rows[name]['method']} ({kind})",
                "kind": kind,
                "sources": slug,
                "group": "long",
            }
    return out


def long_instruments(long: Mapping | None, instruments: Sequence[str]) -> list[str]:
    """The source instruments of the long rows (``real_audio.long.instruments``; null: every one of
    ``instruments``), in the order of ``instruments``; each is still edited into every other configured
    instrument. A code that is no instrument code at all is a ValueError naming the key; a known code left out
    of ``instruments`` is skipped, so that a config narrowing ``instruments`` keeps its long rows; if none is left,
    a ValueError naming the key."""
    from difftone.instruments import INSTRUMENTS as KNOWN

    chosen = (long or {}).get("instruments")
    if chosen is None:
        return list(instruments)
    unknown = [c for c in chosen if c not in KNOWN]
    if unknown:
        raise ValueError(
            f"real_audio.long.instruments: {', '.join(map(repr, unknown))} is no instrument code; "
            f"use codes of `instruments` ({', '.join(instruments)}) or null for all"
        )
    kept = [c for c in instruments if c in chosen]
    if not kept:
        raise ValueError(
            f"real_audio.long.instruments ({', '.join(chosen)}) names none of `instruments` "
            f"({', '.join(instruments)}): name some of them, null for all, or set real_audio.long.enabled: false"
        )
    return kept
