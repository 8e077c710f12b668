"""Audio I/O for every stage: decode, channels, resampling, checks, atomic writes.

Arrays are channel-first ``float32``: ``wave[channels, samples]`` in [-1, 1].
Every problem with a file raises :class:`AudioError`, whose message names the
file and the reason, so a stage can either stop on it or list it and go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from difftone.files import atomic_path

RESAMPLE_TYPE = "soxr_hq"  # librosa's soxr backend
FRAME_SECONDS = 0.05  # frame length of the silence check


class AudioError(ValueError):
    """A file cannot be used as audio: corrupt, empty, silent, wrong rate or length."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes); delete it or restore it from the dataset")


def info(path: str | Path) -> AudioInfo:
    """Read only the header: rate, channels, length."""
    path = Path(path)
    _check_file(path)
    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, f"cannot decode ({exc}); the file is corrupt or not audio") from None
    return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), str(i.subtype))


def load(
    path: str | Path,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to ``(wave[channels, samples] float32, rate)``.

    ``sample_rate`` resamples (soxr) when the file's rate differs; ``channels``
    (1 or 2) downmixes by averaging or duplicates a mono channel.
    """
    path = Path(path)
    _check_file(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, f"cannot decode ({exc}); the file is corrupt or not audio") from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no audio samples")
    wave = np.ascontiguousarray(data.T)
    if not np.isfinite(wave).all():
        raise AudioError(path, "contains NaN or infinite samples")
    if channels is not None:
        wave = to_channels(wave, channels)
    if sample_rate is not None and sample_rate != rate:
        wave = resample(wave, rate, sample_rate)
        rate = sample_rate
    return wave, int(rate)


def to_channels(wave: np.ndarray, channels: int) -> np.ndarray:
    """Mono <-> stereo for a channel-first array (1-D input is taken as mono)."""
    wave = np.atleast_2d(np.asarray(wave, dtype=np.float32))
    have = wave.shape[0]
    if have == channels:
        return wave
    if channels == 1:
        return wave.mean(axis=0, keepdims=True)
    if have == 1:
        return np.repeat(wave, channels, axis=0)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (through librosa)."""
    if orig_sr == target_sr:
        return np.asarray(wave, dtype=np.float32)
    wave = np.asarray(wave, dtype=np.float32)
    out = librosa.resample(wave, orig_sr=orig_sr, target_sr=target_sr, res_type=RESAMPLE_TYPE, axis=-1)
    # librosa sizes the output with a float ceil (44100 -> 24000 Hz gives one sample too many for 1 s).
    size = int(round(wave.shape[-1] * target_sr / orig_sr))
    return librosa.util.fix_length(out, size=size, axis=-1).astype(np.float32, copy=False)


def peak(wave: np.ndarray) -> float:
    return float(np.max(np.abs(wave))) if np.size(wave) else 0.0


def normalize_peak(wave: np.ndarray, target: float) -> np.ndarray:
    """Scale so that the largest absolute sample is ``target`` (silence stays silent)."""
    p = peak(wave)
    return (wave * (target / p)).astype(np.float32) if p > 0 else np.asarray(wave, dtype=np.float32)


def frame_rms_db(wave: np.ndarray, sample_rate: int, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """RMS level in dBFS of consecutive frames of the channel mean (a partial last frame counts)."""
    mono = np.atleast_2d(wave).mean(axis=0)
    hop = max(1, int(round(frame_seconds * sample_rate)))
    n = int(np.ceil(len(mono) / hop))
    padded = np.zeros(n * hop, dtype=np.float64)
    padded[: len(mono)] = mono
    frames = padded.reshape(n, hop)
    # The last frame is measured over its real samples only.
    counts = np.full(n, hop, dtype=np.float64)
    counts[-1] = len(mono) - (n - 1) * hop
    rms = np.sqrt((frames**2).sum(axis=1) / counts)
    return 20 * np.log10(np.maximum(rms, 1e-10))


def check_silence(
    wave: np.ndarray,
    sample_rate: int,
    path: str | Path,
    silence_db: float = -60.0,
    max_silent_fraction: float = 0.5,
) -> None:
    """Raise if the clip is silent or more than ``max_silent_fraction`` of its 50 ms frames are below ``silence_db``."""
    if peak(wave) <= 10 ** (silence_db / 20):
        raise AudioError(path, f"silent (peak {_db(peak(wave)):.1f} dBFS, threshold {silence_db:g} dBFS)")
    levels = frame_rms_db(wave, sample_rate)
    silent = float(np.mean(levels < silence_db))
    if silent > max_silent_fraction:
        raise AudioError(
            path,
            f"mostly silent ({silent:.0%} of {FRAME_SECONDS * 1000:g} ms frames below {silence_db:g} dBFS, "
            f"at most {max_silent_fraction:.0%} allowed)",
        )


def check_clip(
    path: str | Path,
    sample_rate: int,
    frames: int,
    expected_rate: int | None = None,
    expected_seconds: float | None = None,
    tolerance_seconds: float = 0.01,
) -> None:
    """Raise if the rate differs from ``expected_rate`` or the length from ``expected_seconds``."""
    if expected_rate is not None and sample_rate != expected_rate:
        raise AudioError(path, f"sample rate {sample_rate} Hz, expected {expected_rate} Hz")
    if expected_seconds is not None:
        seconds = frames / sample_rate
        if abs(seconds - expected_seconds) > tolerance_seconds:
            raise AudioError(
                path, f"length {seconds:.3f} s, expected {expected_seconds:g} s (+-{tolerance_seconds:g} s)"
            )


def _db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-10))


PEAK_CEILING = 10 ** (-1 / 20)  # -1 dBFS: the highest peak a written file has
GAIN_TAG = "difftone peak gain"  # how write() records its gain in the file's comment (WAV INFO ICMT)


def limit_peak(wave: np.ndarray, ceiling: float = PEAK_CEILING) -> tuple[np.ndarray, float]:
    """The level rule of every written file: scale down to ``ceiling`` if the peak exceeds it, else keep.

    Returns ``(wave * gain, gain)`` with ``gain = min(1, ceiling / peak)``: one rule for a source
    and its edits, so that files below the ceiling (gain 1) keep levels that compare.
    """
    p = peak(wave)
    gain = min(1.0, ceiling / p) if p > 0 else 1.0
    return (np.asarray(wave, dtype=np.float32) * np.float32(gain)), float(gain)


def rms_db(wave: np.ndarray) -> float:
    """RMS level in dBFS of the whole wave (all channels; -200 for silence)."""
    x = np.asarray(wave, dtype=np.float64)
    return float(20 * np.log10(max(np.sqrt(np.mean(x**2)) if x.size else 0.0, 1e-10)))


def match_level(wave: np.ndarray, target_rms_db: float) -> tuple[np.ndarray, float]:
    """``wave`` at ``target_rms_db`` RMS, then peak-limited (:func:`limit_peak`), never clipped: the level a
    listener compares files at. Returns ``(wave, gain_db)``, the gain applied in all (0 for silence)."""
    level = rms_db(wave)
    gain = 1.0 if level <= -199.0 else 10 ** ((target_rms_db - level) / 20)
    limited, limit = limit_peak(np.asarray(wave, dtype=np.float32) * np.float32(gain))
    return limited, float(20 * np.log10(gain * limit))


def mono_if_identical(wave: np.ndarray) -> np.ndarray:
    """``wave[channels, samples]`` with identical channels -> its one channel (a decoder's dual mono)."""
    wave = np.atleast_2d(wave)
    if wave.shape[0] > 1 and all(np.array_equal(wave[0], ch) for ch in wave[1:]):
        return wave[:1]
    return wave


def write(
    path: str | Path, wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16", keep_channels: bool = False
) -> Path:
    """Write ``wave[channels, samples]`` atomically; the format follows the suffix (.wav, .flac).

    Every file goes through one rule: identical channels are stored as mono (unless
    ``keep_channels``: a file that must keep a user's recording's channel count), and the peak is
    limited to :data:`PEAK_CEILING` (:func:`limit_peak`), never clipped; the gain applied is
    recorded in the file's comment and read back by :func:`written_gain`.
    """
    path = Path(path)
    wave = np.atleast_2d(np.asarray(wave, dtype=np.float32))
    wave = wave if keep_channels else mono_if_identical(wave)
    if not np.isfinite(wave).all():
        raise AudioError(path, "refusing to write NaN or infinite samples")
    before = peak(wave)
    wave, gain = limit_peak(wave)
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    with atomic_path(path) as tmp:
        if subtype.startswith("PCM"):
            wave = np.clip(wave, -1.0, 1.0)  # float rounding only: the peak is already at most the ceiling
        with sf.SoundFile(str(tmp), "w", sample_rate, wave.shape[0], subtype=subtype, format=fmt) as f:
            f.comment = f"{GAIN_TAG} {gain:.6f} (peak before {before:.4f})"
            f.write(wave.T)
    return path


def written_gain(path: str | Path) -> float:
    """The gain :func:`write` applied to ``path`` (1.0 for a file it did not write or left as it was)."""
    path = Path(path)
    _check_file(path)
    with sf.SoundFile(str(path)) as f:
        comment = f.comment or ""
    if comment.startswith(GAIN_TAG):
        return float(comment[len(GAIN_TAG) :].split()[0])
    return 1.0


def longest_full_scale_run(wave: np.ndarray, threshold: float = 32767 / 32768) -> int:
    """The longest run of consecutive samples at full scale (``|x| >= threshold``) in any channel: clipping."""
    longest = 0
    for ch in np.atleast_2d(wave):
        hot = np.concatenate([[0], (np.abs(ch) >= threshold).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(hot))
        if len(edges):
            longest = max(longest, int((edges[1::2] - edges[::2]).max()))
    return longest
