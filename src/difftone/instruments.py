"""The instrument vocabulary shared by every stage: IRMAS codes, prompt words, GM programs.

IRMAS names instruments by three-letter codes (``pia``); prompts name them in words
("piano", "acoustic guitar"). One table maps between them so that the data stage,
the classifiers, the prompt swap and the metrics agree on labels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str  # the word used in prompts, e.g. "acoustic guitar"
    synonyms: tuple[str, ...]  # other words a prompt may use for it, longest first
    gm_program: int | None  # General MIDI program for the embedded dataset


INSTRUMENTS: dict[str, Instrument] = {
    i.code: i
    for i in [
        Instrument("cel", "cello", ("cellos", "violoncello"), 42),
        Instrument("cla", "clarinet", (), 71),
        Instrument("flu", "flute", (), 73),
        Instrument("gac", "acoustic guitar", ("guitar",), 24),
        Instrument("gel", "electric guitar", ("guitar",), 27),
        Instrument("org", "organ", (), 19),
        Instrument("pia", "piano", (), 0),
        Instrument("sax", "saxophone", ("sax",), 65),
        Instrument("tru", "trumpet", (), 56),
        Instrument("vio", "violin", (), 40),
        Instrument("voi", "voice", ("vocals", "singing"), None),
    ]
}

DEFAULT_CODES: tuple[str, ...] = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio")


def resolve(name_or_code: str) -> Instrument:
    """Find an instrument by IRMAS code, prompt word or synonym (case-insensitive).

    Raises ``KeyError`` naming the known instruments when nothing matches.
    """
    key = name_or_code.strip().lower()
    if key in INSTRUMENTS:
        return INSTRUMENTS[key]
    for inst in INSTRUMENTS.values():
        if key == inst.name:
            return inst
    for inst in INSTRUMENTS.values():
        if key in inst.synonyms:
            return inst
    known = ", ".join(f"{i.code} ({i.name})" for i in INSTRUMENTS.values())
    raise KeyError(f"unknown instrument {name_or_code!r}; known instruments: {known}")
