"""SAO latents of the dataset clips: the student's input, encoded once per clip and cached.

Every clip goes through the model's VAE encoder (``components.encode_audio``, the
mode of the posterior) at the VAE's rate and channel count, whatever the model:
the real Oobleck VAE, the tiny one, or the demo mel autoencoder. The latent
channel count is read from the latents, never assumed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from difftone import audio
from difftone.classifiers.cache import cache_clips


def encode_sao_latents(
    index_csv: str | Path,
    manifest_csv: str | Path,
    model_spec: str = "demo",
    dtype: str = "float32",
    device: str = "cpu",
    batch_size: int = 8,
    components=None,
) -> None:
    """Cache ``latents[C, T]`` (fp32) of every clip of ``index_csv``; manifest as for MERT features."""
    if components is None:
        from difftone.models import load_sao

        components = load_sao(model_spec, dtype=dtype, device=device)
    rate, channels = int(components.sample_rate), int(components.vae.config.audio_channels)

    def load(path: str) -> np.ndarray:
        wave, _ = audio.load(path, sample_rate=rate, channels=channels)
        return wave

    @torch.no_grad()
    def compute(waves: list[np.ndarray]) -> torch.Tensor:
        return components.encode_audio(torch.from_numpy(np.stack(waves))).float().cpu()

    producer = {"model": model_spec, "dtype": dtype, "sample_rate": rate, "channels": channels}
    cache_clips(index_csv, manifest_csv, producer, load, compute, batch_size, desc="SAO latents", time_axis=-1)
