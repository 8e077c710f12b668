"""The embedded dataset: IRMAS-layout clips rendered offline from General MIDI soundfonts.

Clip ``i`` of every instrument plays one shared **score** ``i``: the same MIDI notes, in the
pitch range every instrument can play (:data:`SHARED_RANGE`, C4-E5), so that the instruments
differ only in timbre, as one piece played by another instrument does. A score is one of three
kinds, in a fixed 50/30/20 cycle over ``i``:

- ``note``: one sustained note;
- ``phrase``: a short melody (random walk on a scale, varied note lengths and dynamics);
- ``chord``: an arpeggio of a chord's tones (one note at a time, so that every instrument,
  winds included, plays the same notes).

Each instrument is several **renditions**: clip ``i`` is rendered from one of the training soundfonts
(``data.soundfonts``, :mod:`difftone.data.soundfonts`), dealt in turn over ``i`` and the instrument so that
every instrument and every score meet each of them; each clip also draws its own register (the score moved
by an octave where the instrument's range allows), a velocity scale and a reverb room. The clips after the
training ones are rendered from the **held-out soundfont** (``data.heldout_soundfont``) on scores of their
own: the split puts them in the ``heldout`` part, which no classifier and no generator trains on (Table I's
held-out-soundfont row). Each instrument's clip has its own pan and peak level. Notes sound to the end of the clip so the
instrument is audible throughout; every clip must pass the strict silence check (no 50 ms frame
below ``silence_db``); a clip that fails it with the shared score tries it one or two octaves
down, then draws notes of its own in its own range (``render.csv``: ``score``), so clip ``i`` of instrument ``code`` still depends only on
``(seed, code, i)``. The split keeps a score in one part for every instrument
(:func:`difftone.data.index.split_clips`, ``by_score``). Output::

    out_dir/IRMAS-TrainingData/<code>/[<code>][<genre>]NNNN__1.wav   (44.1 kHz stereo PCM_16)
    out_dir/midi/<code>/<same name>.mid                              (what was played)
    out_dir/render.csv                                               (soundfont, kind, score, register, reverb, ...)

Before the shared scores every instrument drew its own notes in its own range: the demo model
then learnt notes and timbre together, and a later swap of the instrument word changed the notes
with it (docs/results.md, "Tuning history").
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pretty_midi
from tqdm.auto import tqdm

from difftone import audio
from difftone.data.errors import DataError
from difftone.data.irmas import GENRES, IRMAS_FOLDER, format_name
from difftone.data.soundfonts import resolve_soundfont, soundfont_name
from difftone.files import atomic_folder
from difftone.instruments import INSTRUMENTS

log = logging.getLogger(__name__)

DEFAULT_SOUNDFONTS = ("TimGM6mb",)  # the GM soundfont pretty_midi ships


@dataclass(frozen=True)
class Profile:
    low: int  # lowest MIDI pitch used
    high: int  # highest MIDI pitch used
    polyphony: int  # notes sounding together in a chord (1: monophonic, arpeggios instead)
    strum: bool = False  # chords are strummed (onsets 10-30 ms apart)


# Practical sounding ranges (MIDI note numbers), kept inside each instrument's real range.
PROFILES: dict[str, Profile] = {
    "cel": Profile(36, 76, 2),  # C2-E5, double stops
    "cla": Profile(50, 89, 1),  # D3-F6
    "flu": Profile(60, 93, 1),  # C4-A6
    "gac": Profile(40, 81, 4, strum=True),  # E2-A5
    "gel": Profile(40, 84, 3, strum=True),  # E2-C6
    "org": Profile(36, 84, 4),  # C2-C6
    "pia": Profile(33, 93, 4),  # A1-A6
    "sax": Profile(49, 80, 1),  # Db3-Ab5 (alto)
    "tru": Profile(54, 82, 1),  # F#3-Bb5
    "vio": Profile(55, 93, 2),  # G3-A6, double stops
}
SHARED_RANGE = Profile(60, 76, 1)  # C4-E5: inside every range above; monophonic, so winds play it too
RENDER_CSV = "render.csv"
KIND_CYCLE = ("note", "phrase", "note", "chord", "note", "phrase", "note", "chord", "note", "phrase")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
}
CHORDS = {
    "major": (0, 4, 7, 12),
    "minor": (0, 3, 7, 12),
    "sus4": (0, 5, 7, 12),
    "dom7": (0, 4, 7, 10),
    "min7": (0, 3, 7, 10),
}
DOUBLE_STOP_INTERVALS = (3, 4, 5, 7, 8, 9)
HOLD = 0.5  # seconds a final note is held past the clip's end (it is cut, never released)
MAX_ATTEMPTS = 20
OCTAVE_RETRIES = (0, -12, -24)  # semitones the shared score is moved when it fails the silence check
# The General MIDI programs a training clip draws its patch from with data.patch_variants: the instrument's own
# (instruments.py's gm_program, first; the held-out soundfont plays only it) and the same instrument's other
# GM patches, so that a soundfont gives several renditions of it (a steel and a nylon guitar, four organs...).
# Off by default: with them the demo generator's prompt adherence fell from 100% to 50% at 700 steps
# (docs/results.md).
PROGRAMS = {
    "cel": (42,),  # cello
    "cla": (71,),  # clarinet
    "flu": (73, 72),  # flute, piccolo
    "gac": (24, 25),  # nylon, steel
    "gel": (27, 26, 29, 30),  # clean, jazz, overdriven, distortion
    "org": (19, 16, 17, 18, 20),  # church, drawbar, percussive, rock, reed
    "pia": (0, 1),  # acoustic grand, bright acoustic
    "sax": (65, 64, 66, 67),  # alto, soprano, tenor, baritone
    "tru": (56, 59),  # trumpet, muted trumpet
    "vio": (40, 110),  # violin, fiddle
}
REGISTERS = (-12, 0, 0, 12)  # octave shifts a clip draws its register from (where the range allows); 0 twice as often
VELOCITY_SCALE = (0.7, 1.15)  # a clip's notes' velocities are scaled by a draw from this range
REVERB_ROOM = (0.1, 0.8)  # fluidsynth reverb room size drawn per clip
REVERB_LEVEL = (0.1, 0.6)  # ... and its level (fluidsynth's default: room 0.2, level 0.9)


@dataclass(frozen=True)
class Rendition:
    """How one clip is rendered: its soundfont and its variation (``render.csv`` records every field)."""

    soundfont: str  # a name of difftone.data.soundfonts or a .sf2/.sf3 path
    program: int | None = None  # General MIDI program (None: the instrument's own)
    register: int = 0  # semitones the shared score is moved (a multiple of 12)
    velocity_scale: float = 1.0
    reverb_room: float = 0.2
    reverb_level: float = 0.9


def draw_rendition(
    seed: int, code: str, index: int, soundfont: str, prof: Profile, score, variants: bool = True
) -> Rendition:
    """The variation of clip ``index`` of ``code``: seeded by ``(seed, code, index)`` only. ``variants``:
    the patch is drawn from :data:`PROGRAMS` (else the instrument's own program)."""
    rng = np.random.default_rng([seed, list(INSTRUMENTS).index(code), index, 4])
    fits = [r for r in REGISTERS if all(prof.low <= n.pitch + r <= prof.high for n in score)]
    programs = PROGRAMS.get(code, (INSTRUMENTS[code].gm_program,))
    return Rendition(
        soundfont=soundfont,
        program=int(rng.choice(programs)) if variants else programs[0],
        register=int(rng.choice(fits)) if fits else 0,
        velocity_scale=round(float(rng.uniform(*VELOCITY_SCALE)), 3),
        reverb_room=round(float(rng.uniform(*REVERB_ROOM)), 3),
        reverb_level=round(float(rng.uniform(*REVERB_LEVEL)), 3),
    )


def clip_rng(seed: int, code: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, list(INSTRUMENTS).index(code), index])


def score_rng(seed: int, index: int) -> np.random.Generator:
    """The draws of shared score ``index`` (the same for every instrument)."""
    return np.random.default_rng([seed, index, 3])


def shared_score(seed: int, index: int, seconds: float) -> list[pretty_midi.Note]:
    """Score ``index``: the notes clip ``index`` of every instrument plays (its kind from :data:`KIND_CYCLE`)."""
    return KINDS[KIND_CYCLE[index % len(KIND_CYCLE)]](score_rng(seed, index), SHARED_RANGE, seconds)


def _velocity(rng: np.random.Generator, base: int) -> int:
    return int(np.clip(round(base + rng.normal(0, 8)), 30, 127))


def single_note(rng: np.random.Generator, prof: Profile, seconds: float) -> list[pretty_midi.Note]:
    pitch = int(rng.integers(prof.low, prof.high + 1))
    start = float(rng.uniform(0.0, 0.03))
    return [pretty_midi.Note(int(rng.integers(60, 121)), pitch, start, seconds + HOLD)]


def phrase(rng: np.random.Generator, prof: Profile, seconds: float) -> list[pretty_midi.Note]:
    """A melody: random walk on a scale, note values from eighths to halves, varied articulation."""
    tonic = int(rng.integers(0, 12))
    scale = SCALES[str(rng.choice(list(SCALES)))]
    pitches = [p for p in range(prof.low, prof.high + 1) if (p - tonic) % 12 in scale]
    i = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    beat = 60.0 / rng.uniform(80, 140)
    base = int(rng.integers(60, 111))
    notes, t = [], float(rng.uniform(0.0, 0.03))
    while t < seconds:
        dur = beat * float(rng.choice([0.5, 1.0, 1.5, 2.0], p=[0.35, 0.35, 0.15, 0.15]))
        last = t + dur >= seconds - 0.1
        end = seconds + HOLD if last else t + dur * float(rng.uniform(0.75, 1.0))
        notes.append(pretty_midi.Note(_velocity(rng, base), pitches[i], t, end))
        if last:
            break
        t += dur
        i = int(np.clip(i + rng.choice([-3, -2, -1, -1, 1, 1, 2, 3, 0]), 0, len(pitches) - 1))
    return notes


def chord(rng: np.random.Generator, prof: Profile, seconds: float) -> list[pretty_midi.Note]:
    """One or two chords (strummed on guitars), double stops on strings, arpeggios on winds."""
    if prof.polyphony == 1:
        return arpeggio(rng, prof, seconds)
    n_chords = int(rng.integers(1, 3))
    base = int(rng.integers(60, 111))
    notes = []
    for k in range(n_chords):
        start = k * seconds / n_chords + (float(rng.uniform(0.0, 0.03)) if k == 0 else 0.0)
        end = seconds + HOLD if k == n_chords - 1 else (k + 1) * seconds / n_chords
        if prof.polyphony == 2:
            shape = (0, int(rng.choice(DOUBLE_STOP_INTERVALS)))
        else:
            shape = CHORDS[str(rng.choice(list(CHORDS)))][: prof.polyphony]
        root = int(rng.integers(prof.low, prof.high - shape[-1] + 1))
        for j, interval in enumerate(shape):
            offset = j * float(rng.uniform(0.01, 0.03)) if prof.strum else 0.0
            notes.append(pretty_midi.Note(_velocity(rng, base), root + interval, start + offset, end))
    return notes


def arpeggio(rng: np.random.Generator, prof: Profile, seconds: float) -> list[pretty_midi.Note]:
    shape = CHORDS[str(rng.choice(list(CHORDS)))]
    root = int(rng.integers(prof.low, prof.high - 12 + 1))
    tones = [root + iv for iv in shape]
    order = {"up": tones, "down": tones[::-1], "updown": tones + tones[-2:0:-1]}[
        str(rng.choice(["up", "down", "updown"]))
    ]
    step = float(rng.uniform(0.15, 0.4))
    base = int(rng.integers(60, 111))
    notes, t, k = [], float(rng.uniform(0.0, 0.03)), 0
    while t < seconds:
        last = t + step >= seconds - 0.1
        end = seconds + HOLD if last else t + step * 0.95
        notes.append(pretty_midi.Note(_velocity(rng, base), order[k % len(order)], t, end))
        if last:
            break
        t += step
        k += 1
    return notes


KINDS = {"note": single_note, "phrase": phrase, "chord": chord}


def synthesize(
    inst: pretty_midi.Instrument,
    sample_rate: int,
    seconds: float,
    pan: int = 64,
    rendition: Rendition | None = None,
) -> np.ndarray:
    """Render ``inst`` with fluidsynth in stereo: ``wave[2, round(seconds * sample_rate)]``.

    Same event loop as ``pretty_midi.Instrument.fluidsynth`` (which returns mono), keeping
    both channels of the synth (pan, reverb and chorus are stereo). ``rendition`` gives the soundfont
    and the reverb (default: :data:`DEFAULT_SOUNDFONTS`, fluidsynth's reverb).
    """
    try:
        import fluidsynth  # here, so that reading the index never needs the synthesizer library
    except ImportError as exc:
        raise DataError(
            f"cannot load pyfluidsynth ({exc}); install the FluidSynth library (Debian: libfluidsynth3, "
            "conda: fluidsynth) or use data.source: irmas"
        ) from None
    rendition = rendition or Rendition(DEFAULT_SOUNDFONTS[0])
    # which soundfonts a dataset may use is render_embedded's rule (FluidR3 kept aside), not the synthesizer's
    path = resolve_soundfont(rendition.soundfont, allow_independent=True)
    # a new synthesizer per clip, so that no clip hears the reverb of the one before; dynamic sample loading
    # decompresses only the program played (loading MuseScore_General_Lite whole takes 2.5 s, this 10 ms)
    synth = fluidsynth.Synth(samplerate=float(sample_rate), **{"synth.dynamic-sample-loading": 1})
    try:
        return _play(synth, path, inst, sample_rate, seconds, pan, rendition)
    finally:
        synth.delete()


def _play(synth, path: Path, inst, sample_rate: int, seconds: float, pan: int, rendition: Rendition) -> np.ndarray:
    sfid = synth.sfload(str(path))
    if sfid < 0:
        raise DataError(f"{path}: cannot load the soundfont")
    synth.set_reverb(roomsize=rendition.reverb_room, damping=0.4, width=0.8, level=rendition.reverb_level)
    synth.program_select(0, sfid, 0, inst.program)
    synth.cc(0, 10, pan)
    events = []
    for n in inst.notes:
        events += [(n.start, 1, n.pitch, n.velocity), (n.end, 0, n.pitch, 0)]
    events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same time
    total = int(round(seconds * sample_rate))
    out = np.zeros((total, 2), dtype=np.float32)
    cur = 0
    for time, on, pitch, velocity in events:
        k = min(total, int(round(time * sample_rate)))
        if k > cur:
            out[cur:k] = synth.get_samples(k - cur).reshape(-1, 2) / 32768.0
            cur = k
        if on:
            synth.noteon(0, pitch, velocity)
        else:
            synth.noteoff(0, pitch)
    if cur < total:
        out[cur:] = synth.get_samples(total - cur).reshape(-1, 2) / 32768.0
    return np.ascontiguousarray(out.T)


def render_clip(
    code: str,
    index: int,
    seed: int,
    sample_rate: int,
    seconds: float,
    silence_db: float = -60.0,
    soundfont: str = DEFAULT_SOUNDFONTS[0],
    variants: bool = True,
) -> tuple[np.ndarray, pretty_midi.Instrument, dict]:
    """Render clip ``index`` of instrument ``code`` from ``soundfont``: shared score ``index`` with the clip's
    drawn patch and register (:func:`draw_rendition`; ``variants=False``: the instrument's own patch); when that fails the strict silence check (a high note that
    fades: the electric guitar's), the score in the other registers that fit, one then two octaves down
    first (the same pitch classes), then notes of its own (:data:`PROFILES`), drawn until one passes."""
    program = INSTRUMENTS[code].gm_program
    if program is None or code not in PROFILES:
        raise DataError(
            f"instrument {code!r} ({INSTRUMENTS[code].name}) has no General MIDI program, so the embedded "
            "dataset cannot render it; remove it from `instruments` or use data.source: irmas"
        )
    prof = PROFILES[code]
    kind = KIND_CYCLE[index % len(KIND_CYCLE)]
    rng = clip_rng(seed, code, index)
    shared = shared_score(seed, index, seconds)
    rendition = draw_rendition(seed, code, index, soundfont, prof, shared, variants)
    program = rendition.program
    fits = [s for s in OCTAVE_RETRIES + REGISTERS if all(prof.low <= n.pitch + s <= prof.high for n in shared)]
    shifts = list(dict.fromkeys([rendition.register, *fits]))  # the drawn register first, each shift once
    for attempt in range(1, MAX_ATTEMPTS + 1):
        inst = pretty_midi.Instrument(program=program, name=INSTRUMENTS[code].name)
        if attempt <= len(shifts):
            shift = shifts[attempt - 1]
            score = "shared" if shift == rendition.register else "shared(retry)"
            notes = [pretty_midi.Note(n.velocity, n.pitch + shift, n.start, n.end) for n in shared]
        else:
            shift, score = 0, "own"
            notes = KINDS[kind](rng, prof, seconds)
        inst.notes = [
            pretty_midi.Note(
                int(np.clip(round(n.velocity * rendition.velocity_scale), 1, 127)), n.pitch, n.start, n.end
            )
            for n in notes
        ]
        pan = int(rng.integers(40, 89))
        wave = synthesize(inst, sample_rate, seconds, pan, rendition)
        wave = audio.normalize_peak(
            wave, float(rng.uniform(0.5, 0.89))
        )  # below audio.PEAK_CEILING: written as rendered
        try:
            audio.check_silence(wave, sample_rate, f"{code} clip {index}", silence_db, max_silent_fraction=0.0)
        except audio.AudioError as exc:
            log.debug("redrawing %s (%s)", exc.path, exc.reason)
            continue
        meta = {
            "instrument": code,
            "soundfont": soundfont_name(soundfont),
            "program": program,
            "velocity_scale": rendition.velocity_scale,
            "kind": kind,
            "score": score,
            "register": shift,
            "pitches": " ".join(str(p) for p in sorted({n.pitch for n in inst.notes})),
            "n_notes": len(inst.notes),
            "velocity": round(float(np.mean([n.velocity for n in inst.notes])), 1),
            "reverb_room": rendition.reverb_room,
            "reverb_level": rendition.reverb_level,
            "pan": pan,
            "peak": round(audio.peak(wave), 4),
            "attempt": attempt,
        }
        return wave, inst, meta
    raise DataError(f"{code} clip {index}: no draw passed the silence check in {MAX_ATTEMPTS} attempts")


def clip_soundfonts(
    instruments: list[str],
    clips_per_instrument: int,
    soundfonts: list[str],
    heldout_soundfont: str | None = None,
    heldout_clips: int = 0,
) -> list[tuple[str, int, str]]:
    """``(code, index, soundfont)`` of every clip: clips ``0..clips_per_instrument-1`` from the training
    soundfonts (all of ``soundfonts`` but the held-out one), dealt in turn over the index and the instrument
    (clip ``i`` of the ``k``-th instrument: soundfont ``(i + k) % n``), so that each instrument and each score
    meet every one of them; then ``heldout_clips`` clips from ``heldout_soundfont`` on scores of their own."""
    if len(set(soundfonts)) != len(soundfonts) or not soundfonts:
        raise DataError(f"data.soundfonts: {soundfonts} must name at least one soundfont, each once")
    training = [s for s in soundfonts if s != heldout_soundfont]
    if heldout_soundfont is not None and (heldout_soundfont not in soundfonts or not training):
        raise DataError(
            f"data.heldout_soundfont: {heldout_soundfont!r} must be one of data.soundfonts ({', '.join(soundfonts)}) "
            "and leave at least one to train on"
        )
    if heldout_soundfont is not None and heldout_clips < 1:
        raise DataError("data.heldout_clips_per_instrument must be at least 1 when data.heldout_soundfont is set")
    jobs = []
    for k, code in enumerate(instruments):
        jobs += [(code, i, training[(i + k) % len(training)]) for i in range(clips_per_instrument)]
        if heldout_soundfont is not None:
            jobs += [(code, clips_per_instrument + j, heldout_soundfont) for j in range(heldout_clips)]
    return jobs


def render_embedded(
    out_dir: str | Path,
    instruments: list[str],
    clips_per_instrument: int,
    seed: int = 0,
    sample_rate: int = 44100,
    clip_seconds: float = 3.0,
    silence_db: float = -60.0,
    overwrite: bool = False,
    soundfonts: list[str] | tuple[str, ...] = DEFAULT_SOUNDFONTS,
    heldout_soundfont: str | None = None,
    heldout_clips: int = 0,
    patch_variants: bool = False,
    workers: int = 1,
) -> pd.DataFrame:
    """Render the embedded dataset into ``out_dir`` (see the module doc); returns the manifest.
    ``patch_variants``: training clips also draw the instrument's other GM patches (:data:`PROGRAMS`).
    ``workers``: processes rendering clips at once (each clip depends only on its own draws, so the
    dataset is the same for any number).

    Everything is written in a temporary folder beside ``out_dir`` that replaces it at the end
    (:func:`difftone.files.atomic_folder`), so a failed render keeps an older ``out_dir``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise DataError(f"{out_dir} already exists; delete it or pass overwrite=True")
    for code in instruments:  # fail before rendering anything
        if code not in INSTRUMENTS:
            raise DataError(f"unknown instrument {code!r}; known codes: {', '.join(INSTRUMENTS)}")
    jobs = clip_soundfonts(instruments, clips_per_instrument, list(soundfonts), heldout_soundfont, heldout_clips)
    for font in soundfonts:
        resolve_soundfont(font)
    rows = []
    # the held-out soundfont plays each instrument's own patch only: is it heard as the instrument?
    tasks = [
        (code, i, seed, sample_rate, clip_seconds, silence_db, font, patch_variants and font != heldout_soundfont)
        for code, i, font in jobs
    ]
    with atomic_folder(out_dir) as tmp, _pool(workers) as pool:
        rendered = pool.map(_render_task, tasks, chunksize=4) if pool else map(_render_task, tasks)
        for (code, i, font), (wave, inst, meta) in tqdm(
            zip(jobs, rendered), total=len(jobs), desc="render embedded dataset", unit="clip"
        ):
            heldout = font == heldout_soundfont
            genre = _genre(seed, i)
            name = format_name(code, genre, i + 1, 1, drums=None if genre == "cla" else "nod")
            rel = Path(IRMAS_FOLDER) / code / name
            audio.write(tmp / rel, wave, sample_rate)
            midi = pretty_midi.PrettyMIDI()
            midi.instruments.append(inst)
            (tmp / "midi" / code).mkdir(parents=True, exist_ok=True)
            midi.write(str(tmp / "midi" / code / (Path(name).stem + ".mid")))
            rows.append({"path": rel.as_posix(), **meta, "heldout": heldout})
        manifest = pd.DataFrame(rows).sort_values("path", ignore_index=True)
        manifest.to_csv(tmp / RENDER_CSV, index=False)
    counts = manifest.groupby(["soundfont", "kind"]).size().to_dict()
    scores = manifest["score"].value_counts().to_dict() if len(manifest) else {}
    log.info("rendered %d clips (%s; scores: %s) into %s", len(manifest), counts, scores, out_dir)
    return manifest


def _render_task(task: tuple) -> tuple[np.ndarray, pretty_midi.Instrument, dict]:
    code, index, seed, sample_rate, seconds, silence_db, font, variants = task
    return render_clip(code, index, seed, sample_rate, seconds, silence_db, soundfont=font, variants=variants)


@contextlib.contextmanager
def _pool(workers: int):
    """A process pool of ``workers`` (None for one: render in this process)."""
    if workers <= 1:
        yield None
        return
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


def heldout_clip_names(folder: str | Path) -> set[str]:
    """File names of the clips ``render_embedded`` rendered from the held-out soundfont (``render.csv``)."""
    path = Path(folder) / RENDER_CSV
    if not path.is_file():
        raise DataError(f"{path} does not exist; rerun the data stage (rule render_embedded)")
    table = pd.read_csv(path)
    if "heldout" not in table.columns:
        raise DataError(f"{path} has no heldout column (rendered by an older difftone); delete {folder} and rerun")
    return {Path(p).name for p in table.loc[table["heldout"].astype(bool), "path"]}


def _genre(seed: int, index: int) -> str:
    """A genre tag for the file name, one per score (the rendered clips have none; the name keeps IRMAS's layout)."""
    return GENRES[int(np.random.default_rng([seed, index, 1]).integers(len(GENRES)))]


# -- duets: two instruments in one clip ---------------------------------------------------------------
# The embedded dataset's duet section: mixtures of two instruments rendered from the same soundfont,
# seeded like the single clips (duet i of a pair depends only on (seed, pair, i)). Two kinds, alternating:
#
# - ``unison``: both play the same melody, each transposed by octaves into its own range;
# - ``accompaniment``: the first plays a melody, the second an accompaniment (chords, or a held
#   note/arpeggio on a monophonic instrument).
#
# Output (beside, not inside, the IRMAS-layout folder, so the single-label classifiers never see it)::
#
#     out_dir/<a>+<b>/<a>+<b>_NNNN.wav   (44.1 kHz stereo PCM_16)
#     out_dir/midi/<a>+<b>/<same>.mid    (two tracks)
#     out_dir/duets.csv                  path (relative to out_dir), instruments ("pia tru"), kind, pitches, ...
#
# IRMAS has predominant-instrument labels only: IRMAS-based runs have no duets.

DUET_KINDS = ("unison", "accompaniment")
DUETS_CSV = "duets.csv"


def duet_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}+{pair[1]}"


def duet_rng(seed: int, pair: tuple[str, str], index: int) -> np.random.Generator:
    codes = list(INSTRUMENTS)
    return np.random.default_rng([seed, codes.index(pair[0]), codes.index(pair[1]), index, 2])


def _into_range(pitch: int, prof: Profile) -> int:
    """``pitch`` moved by octaves into the profile's range (the nearest octave that fits)."""
    while pitch < prof.low:
        pitch += 12
    while pitch > prof.high:
        pitch -= 12
    return max(prof.low, pitch)


def duet_notes(
    rng: np.random.Generator, kind: str, first: Profile, second: Profile, seconds: float
) -> tuple[list[pretty_midi.Note], list[pretty_midi.Note]]:
    """The notes of both instruments of one duet clip (see the section's comment)."""
    melody = phrase(rng, first, seconds)
    if kind == "unison":
        shift = int(rng.choice([-12, 0, 12]))
        other = [
            pretty_midi.Note(_velocity(rng, n.velocity), _into_range(n.pitch + shift, second), n.start, n.end)
            for n in melody
        ]
        return melody, other
    if kind == "accompaniment":
        return melody, (
            chord(rng, second, seconds)
            if second.polyphony > 1
            else KINDS[str(rng.choice(["note", "chord"]))](rng, second, seconds)
        )
    raise DataError(f"unknown duet kind {kind!r}; known: {', '.join(DUET_KINDS)}")


def render_duet(
    pair: tuple[str, str],
    index: int,
    seed: int,
    sample_rate: int,
    seconds: float,
    silence_db: float = -60.0,
    soundfont: str = DEFAULT_SOUNDFONTS[0],
) -> tuple[np.ndarray, list[pretty_midi.Instrument], dict]:
    """Draw and render duet ``index`` of the instrument ``pair`` from ``soundfont``: each part rendered alone,
    panned apart, brought to the same peak and mixed; redrawn until the mix passes the strict silence check."""
    for code in pair:
        if INSTRUMENTS[code].gm_program is None or code not in PROFILES:
            raise DataError(
                f"instrument {code!r} has no General MIDI program: no duet can render it; "
                "remove it from data.duets.pairs"
            )
    kind = DUET_KINDS[index % len(DUET_KINDS)]
    rng = duet_rng(seed, pair, index)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        notes = duet_notes(rng, kind, PROFILES[pair[0]], PROFILES[pair[1]], seconds)
        pans = (int(rng.integers(30, 60)), int(rng.integers(68, 99)))
        if rng.random() < 0.5:
            pans = pans[::-1]
        parts, waves = [], []
        for code, part, pan in zip(pair, notes, pans):
            inst = pretty_midi.Instrument(program=INSTRUMENTS[code].gm_program, name=INSTRUMENTS[code].name)
            inst.notes = part
            parts.append(inst)
            waves.append(audio.normalize_peak(synthesize(inst, sample_rate, seconds, pan, Rendition(soundfont)), 0.5))
        wave = audio.normalize_peak(waves[0] + waves[1], float(rng.uniform(0.5, 0.9)))
        try:
            audio.check_silence(
                wave, sample_rate, f"duet {duet_name(pair)} {index}", silence_db, max_silent_fraction=0.0
            )
        except audio.AudioError as exc:
            log.debug("redrawing %s (%s)", exc.path, exc.reason)
            continue
        meta = {
            "instruments": " ".join(pair),
            "soundfont": soundfont_name(soundfont),
            "kind": kind,
            "pitches": " | ".join(" ".join(str(p) for p in sorted({n.pitch for n in part})) for part in notes),
            "n_notes": sum(len(part) for part in notes),
            "peak": round(audio.peak(wave), 4),
            "attempt": attempt,
        }
        return wave, parts, meta
    raise DataError(f"duet {duet_name(pair)} {index}: no draw passed the silence check in {MAX_ATTEMPTS} attempts")


def render_duets(
    out_dir: str | Path,
    pairs: list[tuple[str, str]] | list[list[str]],
    clips_per_pair: int,
    seed: int = 0,
    sample_rate: int = 44100,
    clip_seconds: float = 3.0,
    silence_db: float = -60.0,
    overwrite: bool = False,
    soundfonts: list[str] | tuple[str, ...] = DEFAULT_SOUNDFONTS,
) -> pd.DataFrame:
    """Render the duet section into ``out_dir`` (see the section's comment); returns the manifest
    (also ``out_dir/duets.csv``). Duet ``i`` of a pair is rendered from ``soundfonts[i % n]`` (the training
    soundfonts: never the held-out one). Written in a temporary folder that replaces ``out_dir`` at the end
    (:func:`difftone.files.atomic_folder`)."""
    out_dir = Path(out_dir)
    pairs = [tuple(p) for p in pairs]
    for p in pairs:  # fail before rendering anything
        if len(p) != 2 or p[0] == p[1] or any(c not in INSTRUMENTS for c in p):
            raise DataError(
                f"data.duets.pairs: {list(p)} is not two different instrument codes (known: {', '.join(INSTRUMENTS)})"
            )
    if out_dir.exists() and not overwrite:
        raise DataError(f"{out_dir} already exists; delete it or pass overwrite=True")
    soundfonts = list(soundfonts)
    for font in soundfonts:
        resolve_soundfont(font)
    rows = []
    with atomic_folder(out_dir) as tmp:
        jobs = [(p, i) for p in pairs for i in range(clips_per_pair)]
        for pair, i in tqdm(jobs, desc="render duets", unit="clip"):
            font = soundfonts[i % len(soundfonts)]
            wave, parts, meta = render_duet(pair, i, seed, sample_rate, clip_seconds, silence_db, soundfont=font)
            name = f"{duet_name(pair)}_{i + 1:04d}"
            rel = Path(duet_name(pair)) / f"{name}.wav"
            audio.write(tmp / rel, wave, sample_rate)
            midi = pretty_midi.PrettyMIDI()
            midi.instruments.extend(parts)
            (tmp / "midi" / duet_name(pair)).mkdir(parents=True, exist_ok=True)
            midi.write(str(tmp / "midi" / duet_name(pair) / f"{name}.mid"))
            rows.append({"path": rel.as_posix(), **meta})
        columns = ["path", "instruments", "soundfont", "kind", "pitches", "n_notes", "peak", "attempt"]
        manifest = pd.DataFrame(rows, columns=columns).sort_values("path", ignore_index=True)
        manifest.to_csv(tmp / DUETS_CSV, index=False)
    log.info("rendered %d duet clips of %d pair(s) into %s", len(manifest), len(pairs), out_dir)
    return manifest


def read_duets(folder: str | Path) -> pd.DataFrame:
    """The duet manifest of a :func:`render_duets` folder, with ``path`` joined to the folder and
    ``instruments`` as a tuple of codes; an empty folder (no pairs) gives an empty table."""
    folder = Path(folder)
    path = folder / DUETS_CSV
    if not path.is_file():
        raise DataError(f"{path} does not exist; rerun the data stage (rule render_duets)")
    table = pd.read_csv(path, keep_default_na=False, dtype={"instruments": str, "path": str})
    table["path"] = [str(folder / p) for p in table["path"]]
    table["instruments"] = [tuple(s.split()) for s in table["instruments"]]
    return table
