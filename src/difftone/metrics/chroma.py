"""Chroma distance: how much of the source's tonal content an edit keeps.

Definition (the one number reported as ``chroma`` in the tables; lower = content kept):

1. Both signals are mixed to mono and resampled to ``sr`` (22 050 Hz by default,
   soxr via librosa), then trimmed to the shorter of the two lengths.
2. Each gets a chromagram ``C`` of 12 pitch classes x T frames with
   ``librosa.feature.chroma_cqt`` (or ``chroma_stft``), hop ``hop_length`` (512),
   librosa's defaults otherwise (each frame max-normalised).
3. Per frame t the cosine distance ``1 - <a_t, b_t> / (|a_t| |b_t|)``; a frame
   where both chroma vectors are zero counts 0 (both silent), where exactly one
   is zero counts 1.
4. The distance is the mean over frames. Chroma is non-negative, so the value
   lies in [0, 1]: 0 for identical pitch content, about 1 for disjoint pitch classes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

CHROMA_SR = 22050
CHROMA_HOP = 512
METHODS = ("cqt", "stft")


def chroma_frame_distance(chroma_a: np.ndarray, chroma_b: np.ndarray) -> float:
    """Mean over frames of the cosine distance between two [12, T] chromagrams."""
    a = np.asarray(chroma_a, dtype=np.float64)
    b = np.asarray(chroma_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"chromagrams must have the same [n_chroma, frames] shape, got {a.shape} and {b.shape}")
    if a.shape[1] == 0:
        raise ValueError("chromagrams have no frames")
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    a_zero, b_zero = na <= 1e-12, nb <= 1e-12
    cos = np.sum(a * b, axis=0) / np.maximum(na * nb, 1e-24)
    cos = np.where(a_zero & b_zero, 1.0, np.where(a_zero | b_zero, 0.0, cos))
    return float(np.mean(1.0 - np.clip(cos, -1.0, 1.0)))


def _to_mono(audio: np.ndarray, name: str) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:  # [channels, samples]
        audio = audio.mean(axis=0)
    if audio.ndim != 1:
        raise ValueError(f"{name}: expected audio of shape [samples] or [channels, samples], got {audio.shape}")
    if audio.size == 0:
        raise ValueError(f"{name}: audio is empty")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{name}: audio contains NaN or infinite samples")
    return audio


def chromagram(audio: np.ndarray, sr: int, *, method: str = "cqt", hop_length: int = CHROMA_HOP) -> np.ndarray:
    """Chromagram [12, frames] of mono audio already at rate ``sr``."""
    if method == "cqt":
        return librosa.feature.chroma_cqt(y=audio, sr=sr, hop_length=hop_length)
    if method == "stft":
        return librosa.feature.chroma_stft(y=audio, sr=sr, hop_length=hop_length)
    raise ValueError(f"unknown chroma method {method!r}; use one of {METHODS}")


def chroma_distance(
    edit: np.ndarray,
    source: np.ndarray,
    sr: int,
    *,
    source_sr: int | None = None,
    method: str = "cqt",
    target_sr: int = CHROMA_SR,
    hop_length: int = CHROMA_HOP,
) -> float:
    """Chroma distance between an edit and its source generation (module docstring).

    ``edit``/``source``: float audio, [samples] or [channels, samples]; ``sr`` is the
    edit's rate, ``source_sr`` the source's (defaults to ``sr``).
    """
    a = _mono_at(edit, sr, target_sr, "edit")
    b = _mono_at(source, sr if source_sr is None else source_sr, target_sr, "source")
    n = _common_length(a, b)
    return chroma_frame_distance(
        chromagram(a[:n], target_sr, method=method, hop_length=hop_length),
        chromagram(b[:n], target_sr, method=method, hop_length=hop_length),
    )


def _mono_at(audio: np.ndarray, sr: int, target_sr: int, name: str) -> np.ndarray:
    a = _to_mono(audio, name)
    return librosa.resample(a, orig_sr=sr, target_sr=target_sr) if sr != target_sr else a


def _common_length(a: np.ndarray, b: np.ndarray) -> int:
    n = min(a.size, b.size)
    if max(a.size, b.size) > 1.05 * n:
        log.warning(
            "chroma_distance: edit and source differ in length (%d vs %d samples); comparing the first %d",
            a.size,
            b.size,
            n,
        )
    return n


class SourceChromagrams:
    """:func:`chroma_distance` of many edits against few sources (a scoring job: nine edits of every
    source): each source is loaded, resampled and turned into a chromagram once. The distances are
    :func:`chroma_distance`'s, to the last bit."""

    def __init__(self, *, method: str = "cqt", target_sr: int = CHROMA_SR, hop_length: int = CHROMA_HOP):
        self.method, self.target_sr, self.hop_length = method, int(target_sr), int(hop_length)
        self._mono: dict = {}
        self._chroma: dict = {}

    def distance(self, edit: np.ndarray, sr: int, key, load_source) -> float:
        """Chroma distance of ``edit`` (at ``sr``) to the source named ``key``; ``load_source()`` returns
        its ``(audio, rate)`` and is called the first time ``key`` is seen."""
        a = _mono_at(edit, sr, self.target_sr, "edit")
        if key not in self._mono:
            source, source_sr = load_source()
            self._mono[key] = _mono_at(source, source_sr, self.target_sr, "source")
        b = self._mono[key]
        n = _common_length(a, b)
        if (key, n) not in self._chroma:
            self._chroma[(key, n)] = chromagram(b[:n], self.target_sr, method=self.method, hop_length=self.hop_length)
        return chroma_frame_distance(
            chromagram(a[:n], self.target_sr, method=self.method, hop_length=self.hop_length), self._chroma[(key, n)]
        )


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 [channels, samples] with a clear error for unreadable files."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt/missing files
        raise ValueError(f"cannot read audio file {path}: {exc}") from None
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} is empty")
    return data.T, int(sr)


def chroma_distance_files(edit_path: str | Path, source_path: str | Path, **kwargs) -> float:
    """:func:`chroma_distance` on two audio files (any rate/channels)."""
    edit, sr_e = read_audio(edit_path)
    source, sr_s = read_audio(source_path)
    try:
        return chroma_distance(edit, source, sr_e, source_sr=sr_s, **kwargs)
    except ValueError as exc:
        raise ValueError(f"chroma distance of {edit_path} vs {source_path}: {exc}") from None
