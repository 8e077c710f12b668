"""The features stage (``features.smk``): the classifiers' inputs, computed once per clip and cached.

One function per rule, named as the rule:

* :func:`extract_mert_features`: MERT hidden states ``[L, T, D]`` (fp16), the teacher's input;
* :func:`encode_sao_latents`: SAO VAE latents ``[C, T]`` (fp32), the student's input. Every clip
  goes through the model's VAE encoder (``components.encode_audio``, the mode of the posterior)
  at the VAE's rate and channel count, whatever the model: the real Oobleck VAE, the tiny one,
  or the demo mel autoencoder. The latent channel count is read from the latents, never assumed.

Both write through :func:`difftone.classifiers.cache.cache_clips` (one safetensors file per clip,
fingerprinted, and a manifest ``index.csv``: path, instrument, split, file, frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from difftone import audio
from difftone.classifiers.cache import cache_clips
from difftone.classifiers.mert import MERT_SAMPLE_RATE, MertExtractor
from difftone.classifiers.teacher_features import load_teacher_features


def extract_teacher_features(
    index_csv: str | Path,
    manifest_csv: str | Path,
    kind: str = "mert",
    spec: str = "tiny",
    revision: str | None = None,
    sample_rate: int | None = None,
    layers: list[int] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    extractor=None,
) -> None:
    """Cache the teacher features ``[L, T, D]`` (fp16) of every clip of ``index_csv``.

    The manifest ``manifest_csv`` lists path, instrument, split, file, frames.
    """
    ex = extractor or load_teacher_features(kind, spec, revision, sample_rate, layers, device)

    def load(path: str) -> np.ndarray:
        wave, _ = audio.load(path, sample_rate=ex.sample_rate, channels=1)
        return wave[0]

    def compute(waves: list[np.ndarray]):
        return ex.hidden_states(np.stack(waves)[:, None], ex.sample_rate).half()

    cache_clips(index_csv, manifest_csv, ex.producer(), load, compute, batch_size, desc=f"{kind} features", time_axis=1)


ROUNDTRIPS = ("demo",)
ROUNDTRIP_SPLITS = ("train", "val")  # never the test split: Table I scores the teacher on it


def extract_roundtrip_teacher_features(
    index_csv: str | Path,
    manifest_csv: str | Path,
    autoencoder,
    roundtrip: str = "demo",
    kind: str = "mert",
    spec: str = "tiny",
    revision: str | None = None,
    sample_rate: int | None = None,
    layers: list[int] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    extractor=None,
) -> None:
    """Cache the teacher features of the train and val clips after an encode -> decode round trip.

    ``teacher_features.roundtrip`` (``demo``): ``autoencoder`` is the demo model's mel autoencoder
    (the folder rule ``fit_demo_autoencoder`` writes, :func:`difftone.demo_training.fit_demo_autoencoder`); each clip is read at its rate and channel count,
    replaced by ``autoencoder.decode(autoencoder.encode(x))`` (Griffin-Lim audio, as the demo model's
    generations), and its teacher features are cached as :func:`extract_teacher_features` does, under
    ``manifest_csv``'s folder, with the same manifest columns (path, instrument, split, file, frames).
    The test split is never round-tripped (:data:`ROUNDTRIP_SPLITS`).
    """
    if roundtrip not in ROUNDTRIPS:
        raise ValueError(f"teacher_features.roundtrip {roundtrip!r} is not one of {', '.join(ROUNDTRIPS)} (or null)")
    ex = extractor or load_teacher_features(kind, spec, revision, sample_rate, layers, device)
    rate, channels = int(autoencoder.sampling_rate), int(autoencoder.config.audio_channels)

    def load(path: str) -> np.ndarray:
        wave, _ = audio.load(path, sample_rate=rate, channels=channels)
        return wave

    def compute(waves: list[np.ndarray]):
        return ex.hidden_states(roundtrip_audio(autoencoder, np.stack(waves)), rate).half()

    producer = {**ex.producer(), "roundtrip": roundtrip, "autoencoder": config_fingerprint(autoencoder)}
    cache_clips(
        index_csv,
        manifest_csv,
        producer,
        load,
        compute,
        batch_size,
        desc=f"{kind} features of round-tripped clips",
        time_axis=1,
        splits=ROUNDTRIP_SPLITS,
    )


def config_fingerprint(module) -> dict:
    """A diffusers module's config without its private keys (``_class_name``, ``_name_or_path``, ...): part of a
    cache fingerprint, so that a module with other settings under the same spec recomputes the cache."""
    return {k: v for k, v in dict(module.config).items() if not k.startswith("_")}


@torch.no_grad()
def roundtrip_audio(autoencoder, waves: np.ndarray) -> torch.Tensor:
    """``autoencoder.decode(autoencoder.encode(waves))``, cut to the input length (``[B, ch, n]``, float32)."""
    x = torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32))
    y = autoencoder.decode(autoencoder.encode(x).latent_dist.mode()).sample.float()
    return y[..., : x.shape[-1]]


def extract_mert_features(
    index_csv: str | Path,
    manifest_csv: str | Path,
    spec: str = "tiny",
    revision: str | None = None,
    sample_rate: int = MERT_SAMPLE_RATE,
    layers: list[int] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    extractor: MertExtractor | None = None,
) -> None:
    """Cache the MERT hidden states ``[L, T, D]`` (fp16) of every clip: :func:`extract_teacher_features` of kind mert."""
    extract_teacher_features(
        index_csv, manifest_csv, "mert", spec, revision, sample_rate, layers, device, batch_size, extractor
    )


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

    # the VAE's config joins the fingerprint: a refitted demo autoencoder (same spec string) recomputes the cache
    producer = {
        "model": model_spec,
        "dtype": dtype,
        "sample_rate": rate,
        "channels": channels,
        "vae": config_fingerprint(components.vae),
    }
    cache_clips(index_csv, manifest_csv, producer, load, compute, batch_size, desc="SAO latents", time_axis=-1)
