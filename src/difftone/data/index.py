"""One clip index for the embedded dataset and real IRMAS.

Two steps, so that changing the split seed reruns only the split:

1. :func:`scan_clips` walks an IRMAS-layout folder, checks every clip (decodes, rate,
   length, silence) and writes ``clips.csv`` and ``rejected.csv`` (path, reason).
2. :func:`split_clips` adds a stratified, seeded ``split`` column (``train``, ``val``
   for early stopping, ``test`` for Table I), grouped by recording (``recording``:
   every excerpt of one IRMAS recording lands in one part), and writes ``index.csv``.

Bad clips follow ``policy``: ``skip`` lists them in ``rejected.csv`` and goes on,
``error`` stops at the first one, naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.data.errors import DataError
from difftone.data.irmas import find_root, is_hidden, parse_name
from difftone.files import atomic_path, read_csv
from difftone.instruments import INSTRUMENTS

log = logging.getLogger(__name__)

CLIP_COLUMNS = ["path", "instrument", "genre", "drums", "duration", "sample_rate", "channels"]
INDEX_COLUMNS = CLIP_COLUMNS + ["recording", "split"]
REJECTED_COLUMNS = ["path", "reason"]
SPLITS = ("train", "val", "test", "heldout")  # heldout: the held-out soundfont's clips (embedded data only)


def check_clip_file(
    path: Path,
    instrument: str,
    sample_rate: int,
    clip_seconds: float,
    silence_db: float = -60.0,
    max_silent_fraction: float = 0.5,
    length_tolerance: float = 0.01,
) -> dict:
    """Validate one clip; return its index row or raise :class:`difftone.audio.AudioError`."""
    if path.suffix.lower() != ".wav":
        raise audio.AudioError(path, f"not a .wav file ({path.suffix or 'no suffix'})")
    name = parse_name(path.name)
    if name is not None and name.instrument != instrument:
        raise audio.AudioError(
            path, f"file name says instrument {name.instrument!r} but it is in folder {instrument!r}"
        )
    head = audio.info(path)
    audio.check_clip(path, head.sample_rate, head.frames, sample_rate, clip_seconds, length_tolerance)
    wave, rate = audio.load(path)
    audio.check_silence(wave, rate, path, silence_db, max_silent_fraction)
    return {
        "path": path.as_posix(),
        "instrument": instrument,
        "genre": name.genre if name else None,
        "drums": name.drums if name else None,
        "duration": round(head.duration, 6),
        "sample_rate": head.sample_rate,
        "channels": head.channels,
    }


def scan_clips(
    folder: str | Path,
    instruments: list[str],
    clips_csv: str | Path,
    rejected_csv: str | Path,
    sample_rate: int = 44100,
    clip_seconds: float = 3.0,
    policy: str = "skip",
    silence_db: float = -60.0,
    max_silent_fraction: float = 0.5,
    length_tolerance: float = 0.01,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every clip of ``instruments`` under ``folder``; write ``clips.csv`` and ``rejected.csv``.

    ``folder`` is an IRMAS-TrainingData folder (or holds one). A subfolder that is not an
    instrument code is an error; known instruments not in ``instruments`` (voice by
    default) are not indexed. Paths in the CSVs are ``folder``-relative as given.
    """
    if policy not in ("skip", "error"):
        raise ValueError(f"data.bad_clip_policy must be 'skip' or 'error', got {policy!r}")
    root = find_root(folder)
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not is_hidden(p)}
    unknown = sorted(set(folders) - set(INSTRUMENTS))
    if unknown:
        raise DataError(
            f"{root / unknown[0]}: unknown instrument folder {unknown[0]!r}; known codes: {', '.join(INSTRUMENTS)}. "
            f"Move it out of {root} or rename it to one of the codes."
        )
    missing = [code for code in instruments if code not in folders]
    if missing:
        raise DataError(
            f"{root}: no folder for configured instrument(s) {', '.join(missing)}; "
            "remove them from `instruments` or point data.irmas_dir at a complete IRMAS-TrainingData folder"
        )
    for code in sorted(set(folders) - set(instruments)):
        log.info("%s: not indexed (%s is not in `instruments`)", folders[code], code)

    files = [(code, p) for code in instruments for p in sorted(folders[code].iterdir()) if not is_hidden(p)]
    rows, rejected = [], []
    for code, path in tqdm(files, desc=f"check clips in {root}", unit="clip"):
        try:
            rows.append(
                check_clip_file(
                    path, code, sample_rate, clip_seconds, silence_db, max_silent_fraction, length_tolerance
                )
            )
        except audio.AudioError as exc:
            if policy == "error":
                raise audio.AudioError(
                    exc.path,
                    f"{exc.reason} (data.bad_clip_policy is 'error'; set it to 'skip' to list bad clips "
                    "in results/data/rejected.csv and go on, or remove the file)",
                ) from None
            log.warning("skipping %s", exc)
            rejected.append({"path": Path(exc.path).as_posix(), "reason": exc.reason})

    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS)
    rejected = pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
    empty = [code for code in instruments if not (clips["instrument"] == code).any()]
    if empty:
        raise DataError(f"{root}: no usable clip for instrument(s) {', '.join(empty)} (see the log for the reasons)")
    _write_csv(clips, clips_csv)
    _write_csv(rejected, rejected_csv)
    log.info(
        "%d clips indexed, %d rejected; per instrument: %s",
        len(clips),
        len(rejected),
        clips.groupby("instrument").size().to_dict(),
    )
    return clips, rejected


def recording_of(path: str) -> str:
    """The recording id of a clip (:attr:`difftone.data.irmas.ClipName.recording`); a file outside the IRMAS
    naming is its own recording."""
    name = parse_name(Path(path).name)
    return name.recording if name is not None else Path(path).as_posix()


def split_clips(
    clips_csv: str | Path,
    index_csv: str | Path,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    by_score: bool = False,
    heldout: Collection[str] = (),
) -> pd.DataFrame:
    """Stratified, seeded train/val/test split of ``clips.csv`` into ``index.csv``, grouped by recording.

    Per instrument, its recordings are shuffled (seeded by ``seed`` and the instrument only, so the draw
    does not depend on which other instruments are indexed) and dealt whole: first to ``test`` until it holds
    ``round(n * test_fraction)`` clips or more (at least one recording), then to ``val`` likewise, the rest to
    ``train``. Excerpts of one recording never straddle two parts.

    ``by_score`` (the embedded dataset, where clip ``NNNN`` of every instrument plays score ``NNNN``:
    :mod:`difftone.data.render`): the clips are dealt in one seeded order of their numbers, the same for
    every instrument, so that a score is in one part for all of them; with as many clips per instrument
    the parts hold the same scores. Otherwise a held-out score would be in another instrument's training
    clips, and the test split would measure memorised notes.

    ``heldout``: file names of clips set aside whole in the ``heldout`` part before the deal (the embedded
    dataset's held-out soundfont, :func:`difftone.data.render.heldout_clip_names`): nothing trains on them.
    """
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"data.{key} must be in (0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"data.val_fraction + data.test_fraction must be < 1 (some clips train), got "
            f"{val_fraction} + {test_fraction}"
        )
    clips = _read_csv(clips_csv, CLIP_COLUMNS).sort_values("path", ignore_index=True)
    clips["recording"] = [recording_of(p) for p in clips["path"]]
    clips["split"] = "train"
    names = {Path(p).name for p in clips["path"]}
    unknown = sorted(set(heldout) - names)
    if unknown:
        raise DataError(
            f"{clips_csv}: held-out clip(s) {unknown[:3]} are not in the scanned clips; rerun the data stage"
        )
    set_aside = clips["path"].map(lambda p: Path(p).name in set(heldout))
    clips.loc[set_aside, "split"] = "heldout"
    kept = clips[~set_aside]
    if by_score:
        numbers = [_clip_number(p, clips_csv) for p in kept["path"]]
        deal = {int(n): rank for rank, n in enumerate(np.random.default_rng([seed]).permutation(sorted(set(numbers))))}
        score_rank = {rec: deal[n] for rec, n in zip(kept["recording"], numbers)}
    for code, group in kept.groupby("instrument", sort=True):
        recordings = sorted(group["recording"].unique())
        if len(recordings) < 3:
            raise DataError(
                f"{clips_csv}: instrument {code!r} has {len(recordings)} recording(s); a train/val/test "
                "split by recording needs 3 (add clips or remove the instrument)"
            )
        if by_score:
            order = sorted(recordings, key=score_rank.__getitem__)
        else:
            rng = np.random.default_rng([seed, list(INSTRUMENTS).index(code)])
            order = [recordings[i] for i in rng.permutation(len(recordings))]
        sizes = group.groupby("recording").size()
        n = len(group)
        dealt = 0
        for part, fraction in (("test", test_fraction), ("val", val_fraction)):
            want, taken = max(1, round(n * fraction)), 0
            while taken < want and dealt < len(order) - 1:  # keep at least one recording for training
                rec = order[dealt]
                clips.loc[group.index[group["recording"] == rec], "split"] = part
                taken += int(sizes[rec])
                dealt += 1
        if dealt >= len(order) or not (clips.loc[group.index, "split"] == "val").any():
            raise DataError(
                f"{clips_csv}: instrument {code!r}: its {len(recordings)} recordings do not fill "
                "train, val and test; add clips or lower data.val_fraction/data.test_fraction"
            )
    _write_csv(clips[INDEX_COLUMNS], index_csv)
    log.info(
        "split (seed %d, val %g, test %g, by %s): %s",
        seed,
        val_fraction,
        test_fraction,
        "score" if by_score else "recording",
        clips.groupby(["instrument", "split"]).size().unstack(fill_value=0).to_dict("index"),
    )
    return clips[INDEX_COLUMNS]


def _clip_number(path: str, clips_csv: str | Path) -> int:
    name = parse_name(Path(path).name)
    if name is None:
        raise DataError(
            f"{clips_csv}: {path} is not named like an IRMAS clip ([code][genre]NNNN__K.wav), so it has "
            "no score number; a split by score is for the embedded dataset only (data.source: embedded)"
        )
    return name.number


def read_index(path: str | Path = "results/data/index.csv", split: str | None = None) -> pd.DataFrame:
    """Read ``index.csv`` (optionally one split), checking its columns."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    index = _read_csv(path, INDEX_COLUMNS)
    return index[index["split"] == split].reset_index(drop=True) if split else index


def _read_csv(path: str | Path, columns: list[str]) -> pd.DataFrame:
    return read_csv(
        path,
        columns,
        what=f"`snakemake -R {path}`",
        error=DataError,
        allow_empty=True,
        dtype={"genre": "string", "drums": "string", "recording": "string"},
    )


def _write_csv(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
