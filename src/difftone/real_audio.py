"""Real recordings in and out of the model: load and check a file, invert it, write results at the input's format.

``load_recording`` turns a user's file into what the backbone takes (its sample rate, its
channels, peak ``peak`` as ZETA scales SAO's input), refusing with one
:class:`difftone.audio.AudioError` line each: a missing, empty or undecodable file, a file
with no samples, a silent or mostly silent one, and one longer than ``max_seconds``
(``real_audio.max_seconds``; without it, one longer than the model's window: the Table IV
clips are inverted as one window each). Longer files are edited window by window:
:mod:`difftone.long_audio`. Mono is repeated to
the model's channels, more channels are averaged first, other sample rates are resampled
(soxr). ``restore`` maps model-rate audio back to the input's rate, channel count, length
and level, so the reconstruction and the edit line up with the input sample for sample.

``invert_recording`` = ``load_recording`` + :func:`difftone.engine.inversion.invert_audio`
with the source prompt (the user's, or ``real_audio.source_prompt`` with the instrument's
name) and the source guidance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from difftone import audio
from difftone.audio import AudioError

DEFAULT_TEMPLATE = "A recording of {instrument}"


@dataclass
class Recording:
    path: str
    wave: np.ndarray  # [model channels, n] at the model's rate, scaled to the peak
    sample_rate: int  # the file's
    channels: int  # the file's
    samples: int  # the file's
    gain: float  # wave = gain * (the file resampled and channel-mapped)

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    def info(self) -> dict:
        d = asdict(self)
        d.pop("wave")
        return d


def load_recording(
    path: str | Path,
    backbone,
    *,
    peak: float = 0.5,
    silence_db: float = -60.0,
    max_silent_fraction: float = 0.9,
    max_seconds: float | None = None,
) -> Recording:
    """The file ``path`` prepared for ``backbone`` (module doc); AudioError naming the file otherwise.

    ``max_seconds``: the longest file accepted (``real_audio.max_seconds``; edited window by window,
    :mod:`difftone.long_audio`); None: one model window (a caller that inverts the file as one window)."""
    path = Path(path)
    raw, rate = audio.load(path)
    audio.check_silence(raw, rate, path, silence_db=silence_db, max_silent_fraction=max_silent_fraction)
    seconds, window = raw.shape[1] / rate, float(backbone.max_duration)
    if max_seconds is not None and seconds > float(max_seconds):
        raise AudioError(
            path,
            f"{seconds:.2f} s is longer than real_audio.max_seconds ({float(max_seconds):g} s): "
            "raise it in the config (memory grows with the length, see difftone.long_audio) "
            f"or trim the file (e.g. `sox {path.name} cut.wav trim 0 {float(max_seconds):g}`)",
        )
    if max_seconds is None and seconds > window:
        raise AudioError(
            path,
            f"{seconds:.2f} s is longer than the model's window of {window:.2f} s "
            f"({backbone.spec or 'model'}); trim it to at most {window:.2f} s "
            f"(e.g. `sox {path.name} cut.wav trim 0 {window:.2f}`) and edit the parts one by one",
        )
    channels = int(getattr(getattr(backbone.vae, "config", None), "audio_channels", 2))
    wave = raw if raw.shape[0] <= 2 else raw.mean(axis=0, keepdims=True)
    wave = audio.resample(audio.to_channels(wave, channels), rate, backbone.sample_rate)
    gain = float(peak) / audio.peak(wave)
    return Recording(str(path), (wave * gain).astype(np.float32), int(rate), int(raw.shape[0]), int(raw.shape[1]), gain)


def restore(wave: torch.Tensor | np.ndarray, recording: Recording, model_rate: int) -> np.ndarray:
    """Model-rate audio ``[ch, n]`` -> the input's rate, channels, exact length and level (float32)."""
    wave = np.asarray(wave.detach().cpu() if isinstance(wave, torch.Tensor) else wave, dtype=np.float32)
    wave = audio.resample(wave, model_rate, recording.sample_rate) if model_rate != recording.sample_rate else wave
    if recording.channels == 1:
        wave = wave.mean(axis=0, keepdims=True)
    elif recording.channels != wave.shape[0]:
        wave = np.repeat(wave.mean(axis=0, keepdims=True), recording.channels, axis=0)
    out = np.zeros((wave.shape[0], recording.samples), dtype=np.float32)
    n = min(recording.samples, wave.shape[1])
    out[:, :n] = wave[:, :n]
    return out / recording.gain


def source_prompt(instrument_name: str, prompt: str | None = None, template: str = DEFAULT_TEMPLATE) -> str:
    """The user's prompt, or the template with the instrument's name."""
    return prompt if prompt else template.format(instrument=instrument_name)


def invert_recording(
    editor,
    recording: Recording,
    prompt: str,
    steps: int,
    guidance_scale: float,
    *,
    seed: int = 0,
    target_guidance_scale: float | None = None,
):
    """The inverted :class:`~difftone.engine.Trajectory` of ``recording`` under ``prompt``."""
    from difftone.engine.inversion import invert_audio

    wave = torch.from_numpy(recording.wave).unsqueeze(0)
    return invert_audio(
        editor,
        wave,
        [prompt],
        [seed],
        steps,
        guidance_scale,
        target_guidance_scale=target_guidance_scale,
        recordings=[recording.info()],
    )[0]
