"""Log-mel features: the teacher's offline input on the embedded default (``teacher_features.kind: logmel``).

A random tiny MERT cannot hear instruments, and real MERT needs downloaded weights,
so the embedded default's judge reads a fixed, parameter-free representation
instead: the log-mel spectrogram of the clip (mono, 22.05 kHz, n_fft 2048, hop 512:
43 frames/s, 64 bands from 40 Hz to 8 kHz). It has MERT's interface
(``hidden_states(wave, sr) -> [B, L, T, D]``, here ``L = 1`` and ``D = n_mels``), so
the teacher head, its cache, the student's distillation and the metrics use it
unchanged. The bands are those of the demo model's mel autoencoder: a clip decoded
by it is judged on the same spectral envelope as a clean clip.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import torch

from difftone import audio

LOGMEL_SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 64
F_MIN = 40.0
F_MAX = 8000.0
LOG_FLOOR = 1e-5


class LogMelExtractor:
    """Log-mel "hidden states" ``[B, 1, T, n_mels]`` with :class:`~difftone.classifiers.mert.MertExtractor`'s interface."""

    kind = "logmel"

    def __init__(self, sample_rate: int = LOGMEL_SAMPLE_RATE, device: str | torch.device = "cpu"):
        self.spec, self.revision, self.sample_rate = "logmel", None, int(sample_rate)
        if F_MAX > self.sample_rate / 2:
            raise ValueError(
                f"teacher_features.sample_rate {sample_rate} Hz is below twice the top mel band ({F_MAX:g} Hz)"
            )
        self.device = torch.device(device)
        self.layers = None
        self.num_layers = 1
        self.hidden_size = N_MELS
        self.min_samples = 1
        self.basis = librosa.filters.mel(sr=self.sample_rate, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX)

    def producer(self) -> dict[str, Any]:
        """What identifies these features in the cache."""
        return {
            "logmel": {"n_fft": N_FFT, "hop": HOP_LENGTH, "n_mels": N_MELS, "f_min": F_MIN, "f_max": F_MAX},
            "sample_rate": self.sample_rate,
        }

    def prepare(self, wave: np.ndarray | torch.Tensor, sr: int) -> np.ndarray:
        """Any ``[samples]``, ``[ch, samples]`` or ``[B, ch, samples]`` at ``sr`` -> mono ``[B, samples]`` at 22.05 kHz."""
        w = wave.detach().cpu().float().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave, np.float32)
        if w.ndim == 1:
            w = w[None, None]
        elif w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[-1] == 0:
            raise ValueError(
                f"expected audio [samples], [channels, samples] or [batch, channels, samples], got {w.shape}"
            )
        return audio.resample(w.mean(axis=1), sr, self.sample_rate)

    @torch.no_grad()
    def hidden_states(self, wave: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        mono = self.prepare(wave, sr)
        power = np.abs(librosa.stft(mono, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True)) ** 2
        mel = np.einsum("mf,bft->bmt", self.basis, power)
        log_mel = np.log(mel + LOG_FLOOR).astype(np.float32)
        return torch.from_numpy(log_mel).transpose(1, 2)[:, None]  # [B, 1, T, n_mels]
