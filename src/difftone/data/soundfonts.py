"""General MIDI soundfonts the embedded dataset is rendered from, by name.

A name resolves to the file a Debian package installs (``scripts/setup.sh`` installs the packages
of the embedded default); any ``.sf2``/``.sf3`` path is accepted too. Each instrument of the embedded
dataset is then several renditions, one per soundfont, instead of one sample set.

The FluidR3 soundfonts are **kept aside**: no embedded dataset may be rendered from them, so that
clips of FluidR3 are an independent check of every classifier and generator the workflow trains
(:data:`INDEPENDENT`).

Measured here (2026-12-08): ``sf_GMbank`` (csound) shares the clarinet, electric guitar and violin
samples of ``TimGM6mb`` (the rendered waveforms correlate at 0.999-1.0), so the two are not
independent renditions of those instruments; neither is a held-out soundfont for the other.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from difftone.data.errors import DataError


@dataclass(frozen=True)
class Soundfont:
    name: str
    package: str  # the Debian package that installs it
    paths: tuple[str, ...]  # where it is looked for, in order


def _pretty_midi_copy() -> str:
    return str(Path(str(importlib.resources.files("pretty_midi"))) / "TimGM6mb.sf2")


SOUNDFONTS: dict[str, Soundfont] = {
    s.name: s
    for s in (
        Soundfont("TimGM6mb", "timgm6mb-soundfont", (_pretty_midi_copy(), "/usr/share/sounds/sf2/TimGM6mb.sf2")),
        Soundfont(
            "MuseScore_General_Lite",
            "musescore-general-soundfont-small",
            ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",),
        ),
        Soundfont("sf_GMbank", "csound-soundfont", ("/usr/share/sounds/sf2/sf_GMbank.sf2",)),
        Soundfont("OPL-3_FM_128M", "opl3-soundfont", ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2",)),
        Soundfont("FluidR3_GM", "fluid-soundfont-gm", ("/usr/share/sounds/sf2/FluidR3_GM.sf2",)),
        Soundfont(
            "FluidR3Mono_GM",
            "fluidr3mono-gm-soundfont",
            ("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3", "/usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3"),
        ),
    )
}
INDEPENDENT = ("FluidR3_GM", "FluidR3Mono_GM")  # never rendered into the embedded dataset


def soundfont_name(spec: str) -> str:
    """The name ``render.csv`` records: a registered name as is, a file by its stem."""
    return spec if spec in SOUNDFONTS else Path(spec).stem


def resolve_soundfont(spec: str, key: str = "data.soundfonts", allow_independent: bool = False) -> Path:
    """The file of soundfont ``spec`` (a name of :data:`SOUNDFONTS` or a ``.sf2``/``.sf3`` path).

    Raises :class:`DataError` naming ``key`` and how to install it when it is missing, and for the
    FluidR3 soundfonts unless ``allow_independent`` (they are kept out of the embedded dataset).
    """
    name = soundfont_name(spec)
    if not allow_independent and (name in INDEPENDENT or name.startswith("FluidR3")):
        raise DataError(
            f"{key}: {spec!r} is kept aside as the independent check of the classifiers "
            f"({', '.join(INDEPENDENT)}); render the embedded dataset from others: {', '.join(embedded_names())}"
        )
    if spec in SOUNDFONTS:
        font = SOUNDFONTS[spec]
        for path in font.paths:
            if Path(path).is_file():
                return Path(path)
        raise DataError(
            f"{key}: soundfont {spec!r} is not installed (looked in {', '.join(font.paths)}); "
            f"install it with `apt-get install {font.package}` (bash scripts/setup.sh does) or give a .sf2/.sf3 path"
        )
    path = Path(spec)
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise DataError(f"{key}: {spec!r} is neither a known soundfont ({', '.join(SOUNDFONTS)}) nor a .sf2/.sf3 file")
    if not path.is_file():
        raise DataError(f"{key}: {path} does not exist")
    return path


def embedded_names() -> list[str]:
    return [n for n in SOUNDFONTS if n not in INDEPENDENT]


def debian_packages(specs: list[str]) -> list[str]:
    """The Debian packages that install the named soundfonts (for scripts/setup.sh)."""
    return sorted({SOUNDFONTS[s].package for s in specs if s in SOUNDFONTS})
