"""The ``demo`` model family: Stable Audio Open's classes, small, on a log-mel latent.

The embedded default must show on a laptop, offline, what Diff-TONE is about, so it
needs a text-to-music model whose generations follow the prompt's instrument word.
This family keeps every class the real model uses (``StableAudioDiTModel``,
``T5EncoderModel``, ``StableAudioProjectionModel``,
``CosineDPMSolverMultistepScheduler``) at a size that trains in minutes on a CPU,
and puts a fixed, parameter-free "autoencoder" behind the VAE interface:

* :class:`MelAutoencoder` encodes 44.1 kHz audio (any channel count; downmixed,
  resampled to 22.05 kHz) to standardized 64-bin log-mel frames (n_fft 2048, hop
  1024 at 22.05 kHz: 21.5 frames/s, as SAO's latent) and decodes them by non-negative
  mel inversion + Griffin-Lim (librosa's algorithm, batched in torch) back to ``sampling_rate`` (44.1 kHz, ``audio_channels``
  identical channels). ``hop_length`` is in samples at ``sampling_rate`` (2048).
* :func:`build_demo_components` builds the untrained architecture (``None``) or
  loads a trained checkpoint folder written by :func:`save_demo_components`
  (diffusers layout: one subfolder per component, safetensors + JSON config).

Classifiers, the engine and the metrics use these components exactly as they use
the real ones.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import scipy.fft
import torch
from diffusers import (
    CosineDPMSolverMultistepScheduler,
    StableAudioDiTModel,
    StableAudioProjectionModel,
)
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.autoencoder_oobleck import (
    AutoencoderOobleckOutput,
    OobleckDecoderOutput,
)
from diffusers.models.modeling_utils import ModelMixin
from transformers import PreTrainedTokenizerFast, T5EncoderModel

from difftone.files import atomic_folder
from difftone.models.tiny import SAO_SCHEDULER_CONFIG, tiny_t5_config, word_tokenizer

log = logging.getLogger(__name__)

COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "projection_model", "scheduler")
MODEL_INDEX = "model_index.json"

TEXT_DIM = 64  # T5 d_model = projection conditioning dim = DiT cross_attention_input_dim
MAX_PROMPT_TOKENS = 32  # the tokenizer pads every prompt to this length


def demo_transformer_config(sample_size: int = 65, n_mels: int = 64) -> dict[str, Any]:
    """The demo DiT: 4 layers, 2 heads x 64, 1.4 M parameters; ``sample_size`` = latent frames."""
    return {
        "sample_size": int(sample_size),
        "in_channels": n_mels,
        "num_layers": 4,
        "attention_head_dim": 64,
        "num_attention_heads": 2,
        "num_key_value_attention_heads": 2,
        "out_channels": n_mels,
        "cross_attention_dim": 128,
        "time_proj_dim": 64,
        # the global states are [seconds_start; seconds_end], each of the projection's width
        "global_states_input_dim": 2 * TEXT_DIM,
        "cross_attention_input_dim": TEXT_DIM,
    }


def prompt_vocabulary() -> list[str]:
    """Every word the offline prompt generator (:mod:`difftone.prompts`) writes, in a fixed order."""
    import re

    from difftone import prompts

    text = " ".join([*prompts.TEMPLATES, *prompts.ADJECTIVES, *prompts.GENRES, *prompts.MOODS])
    return sorted(
        set(
            re.findall(
                r"[a-z]+",
                text.lower()
                .replace("{adj}", " ")
                .replace("{inst}", " ")
                .replace("{genre}", " ")
                .replace("{mood}", " "),
            )
        )
    )


def demo_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer of the demo text encoder (the tiny family's, 32 tokens), which also
    knows every word of the offline prompts, so that no prompt the experiment uses has unknown words."""
    return word_tokenizer(extra_words=prompt_vocabulary(), model_max_length=MAX_PROMPT_TOKENS)


class DeterministicLatent:
    """A point-mass posterior with the Oobleck distribution's interface (``sample``/``mode``)."""

    def __init__(self, mean: torch.Tensor):
        self.mean = mean
        self.std = torch.zeros_like(mean)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.mean

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self, other=None) -> torch.Tensor:
        return torch.zeros((), device=self.mean.device)


class MelAutoencoder(ModelMixin, ConfigMixin):
    """A fixed log-mel "autoencoder" with the interface of diffusers' ``AutoencoderOobleck``.

    ``encode(audio[B, ch, n])`` takes audio at ``sampling_rate`` (mono or stereo) and
    returns ``latent_dist`` with ``mode()``/``sample()`` of shape ``[B, n_mels, 1 + n // hop_length]``:
    ``(log(mel_power + log_floor) - latent_mean) / latent_std``. ``decode(latents[B, n_mels, T])``
    returns ``sample`` of shape ``[B, audio_channels, T * hop_length]`` at ``sampling_rate``; latents
    above ``latent_max`` (the training clips' maximum) are decoded at it, so a generation is never
    louder than the data it was trained on.
    The mel filterbank is the only tensor (a buffer, saved as safetensors); the latent
    statistics are config values computed from the training clips.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        sampling_rate: int = 44100,
        audio_channels: int = 2,
        mel_sampling_rate: int = 22050,
        n_fft: int = 2048,
        mel_hop_length: int = 1024,
        n_mels: int = 64,
        f_min: float = 40.0,
        f_max: float = 8000.0,
        log_floor: float = 1e-5,
        latent_mean: float = 0.0,
        latent_std: float = 1.0,
        latent_max: float | None = None,  # the loudest latent value of the training clips: decode's ceiling
        mel_inversion_iters: int = 40,  # 100/32 take 8x longer; the chroma of the audio moves by 0.01-0.06
        griffin_lim_iters: int = 16,  # (two different sources: 0.2-0.9), and every edit is decoded
        quefrency_scale: list[float]
        | None = None,  # n_mels gains of the mel-axis DCT coefficients; None: log-mel latents
    ):
        super().__init__()
        if (mel_hop_length * sampling_rate) % mel_sampling_rate:
            raise ValueError(
                f"mel_hop_length {mel_hop_length} at {mel_sampling_rate} Hz is not a whole number of samples "
                f"at sampling_rate {sampling_rate} Hz"
            )
        if latent_std <= 0:
            raise ValueError(f"latent_std must be positive, got {latent_std}")
        if quefrency_scale is not None and (len(quefrency_scale) != n_mels or min(quefrency_scale) <= 0):
            raise ValueError(f"quefrency_scale must be {n_mels} positive gains, got {quefrency_scale}")
        self.sampling_rate = int(sampling_rate)
        self.hop_length = int(mel_hop_length * sampling_rate // mel_sampling_rate)
        basis = librosa.filters.mel(sr=mel_sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
        self.register_buffer("mel_basis", torch.from_numpy(basis))

    # -- analysis ------------------------------------------------------------------
    def _to_mono_analysis_rate(self, audio: torch.Tensor) -> np.ndarray:
        if audio.ndim != 3:
            raise ValueError(f"expected audio of shape [batch, channels, samples], got {tuple(audio.shape)}")
        y = audio.detach().float().mean(dim=1).cpu().numpy()
        if self.config.mel_sampling_rate != self.sampling_rate:
            y = librosa.resample(y, orig_sr=self.sampling_rate, target_sr=self.config.mel_sampling_rate, axis=-1)
        return y

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Unstandardized log-mel power ``[B, n_mels, frames]`` of audio at ``sampling_rate``."""
        c = self.config
        y = self._to_mono_analysis_rate(audio)
        power = np.abs(librosa.stft(y, n_fft=c.n_fft, hop_length=c.mel_hop_length, window="hann", center=True)) ** 2
        # keep ceil(n / hop) frames, as Oobleck's T frames <-> T * hop samples
        power = power[..., : -(-audio.shape[-1] // self.hop_length)]
        mel = np.einsum("mf,...ft->...mt", self.mel_basis.float().cpu().numpy(), power)
        return torch.from_numpy(np.log(mel + c.log_floor).astype(np.float32))

    def latents_of(self, log_mel: torch.Tensor) -> torch.Tensor:
        """The latents of unstandardized log-mels ``[B, n_mels, T]``: standardized, and with a
        ``quefrency_scale`` the orthonormal DCT along the mel axis (a cepstrum), each coefficient times its gain."""
        c = self.config
        latents = (log_mel - c.latent_mean) / c.latent_std
        if c.quefrency_scale is None:
            return latents
        cepstrum = scipy.fft.dct(latents.detach().float().cpu().numpy(), type=2, norm="ortho", axis=-2)
        scale = np.asarray(c.quefrency_scale, dtype=np.float32)[:, None]
        return torch.from_numpy((cepstrum * scale).astype(np.float32)).to(device=log_mel.device)

    def standardized_log_mel(self, z: torch.Tensor) -> np.ndarray:
        """The inverse of :meth:`latents_of` up to the standardization: latents -> standardized log-mel (numpy)."""
        c = self.config
        latents = z.detach().float().cpu().numpy()
        if c.quefrency_scale is None:
            return latents
        scale = np.asarray(c.quefrency_scale, dtype=np.float32)[:, None]
        return scipy.fft.idct(latents / scale, type=2, norm="ortho", axis=-2).astype(np.float32)

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        latents = self.latents_of(self.log_mel(x))
        latents = latents.to(device=x.device, dtype=self.mel_basis.dtype)
        posterior = DeterministicLatent(latents)
        if not return_dict:
            return (posterior,)
        return AutoencoderOobleckOutput(latent_dist=posterior)

    # -- synthesis -----------------------------------------------------------------
    def decode(self, z: torch.Tensor, return_dict: bool = True, generator=None):
        """Griffin-Lim resynthesis (deterministic: fixed initial phase seed)."""
        c = self.config
        if z.ndim != 3 or z.shape[1] != c.n_mels:
            raise ValueError(f"expected latents of shape [batch, {c.n_mels}, frames], got {tuple(z.shape)}")
        latents = self.standardized_log_mel(z)
        # A generation (guidance extrapolates) can overshoot every band the training clips ever
        # reached; exp() turns that into gains of 10-40 dB and a clipped square wave. The bands
        # are kept within the training range: decoded audio is as loud as the data, at most.
        latents = np.minimum(latents, c.latent_max if c.latent_max is not None else np.inf)
        log_mel = latents * c.latent_std + c.latent_mean
        mel = np.maximum(np.exp(np.clip(log_mel, None, 30.0)) - c.log_floor, 0.0)
        power = mel_to_power(self.mel_basis.float().cpu().numpy(), mel.astype(np.float32), c.mel_inversion_iters)
        frames = z.shape[-1]
        # every item's initial phases come from its own seed-0 draw: an item decodes the same in any batch
        wave = (
            griffin_lim(
                torch.from_numpy(np.sqrt(power)).float(),
                n_iter=c.griffin_lim_iters,
                n_fft=c.n_fft,
                hop_length=c.mel_hop_length,
                length=(frames - 1) * c.mel_hop_length,
            )
            .numpy()
            .astype(np.float64)
        )  # T frames: T - 1 hops
        if c.mel_sampling_rate != self.sampling_rate:
            wave = librosa.resample(wave, orig_sr=c.mel_sampling_rate, target_sr=self.sampling_rate, axis=-1)
        wave = _fit_length(wave, frames * self.hop_length)
        audio = torch.from_numpy(wave.astype(np.float32))[:, None, :].repeat(1, c.audio_channels, 1)
        audio = audio.to(device=z.device, dtype=z.dtype)
        if not return_dict:
            return (audio,)
        return OobleckDecoderOutput(sample=audio)

    def forward(self, sample: torch.Tensor, return_dict: bool = True):
        return self.decode(self.encode(sample).latent_dist.mode(), return_dict=return_dict)


def griffin_lim(
    magnitude: torch.Tensor,
    n_iter: int,
    n_fft: int,
    hop_length: int,
    length: int,
    momentum: float = 0.99,
    seed: int = 0,
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013) on a batch of magnitudes ``[B, n_fft // 2 + 1, T]`` -> ``[B, length]``.

    ``librosa.griffinlim``'s algorithm (Hann window, centred frames with zero padding, its momentum
    update; ``tests/test_demo_model.py`` checks equality with it from the same initial phases), batched in
    torch's FFT: librosa transforms one item at a time, which made decoding most of the embedded default's
    CPU time. Each item's initial phases are uniform, drawn from its own generator seeded ``seed``, so an
    item decodes the same in any batch."""
    if magnitude.ndim != 3 or magnitude.shape[1] != n_fft // 2 + 1:
        raise ValueError(f"expected magnitudes [batch, {n_fft // 2 + 1}, frames], got {tuple(magnitude.shape)}")
    phases = (
        torch.stack(
            [
                torch.rand(magnitude.shape[1:], generator=torch.Generator().manual_seed(seed))
                for _ in range(magnitude.shape[0])
            ]
        )
        if magnitude.shape[0]
        else magnitude.clone()
    )
    return griffin_lim_from(
        magnitude,
        torch.exp(2j * np.pi * phases.double()).to(torch.complex64),
        n_iter,
        n_fft,
        hop_length,
        length,
        momentum,
    )


def griffin_lim_from(
    magnitude: torch.Tensor,
    angles: torch.Tensor,
    n_iter: int,
    n_fft: int,
    hop_length: int,
    length: int,
    momentum: float = 0.99,
) -> torch.Tensor:
    """:func:`griffin_lim` from given unit-modulus initial ``angles`` (the same shape as ``magnitude``).

    The phase update is ``torch.sgn`` (z / |z|, one kernel; dividing by ``abs()`` took half the time) and,
    at 50% overlap, the inverse STFT is :func:`istft_half_overlap` (equal to ``torch.istft``, 2x faster):
    decoding was half of an edit job's compute (cProfile of the embedded default)."""
    window = torch.hann_window(n_fft, periodic=True, dtype=magnitude.dtype)
    stft = dict(n_fft=n_fft, hop_length=hop_length, window=window, center=True)
    if n_fft == 2 * hop_length:

        def inverse_stft(spec):
            return istft_half_overlap(spec, window, length)
    else:

        def inverse_stft(spec):
            return torch.istft(spec, length=length, **stft)

    rebuilt = torch.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        inverse = inverse_stft(magnitude * angles)
        rebuilt = torch.stft(inverse, pad_mode="constant", return_complex=True, **stft)
        angles = torch.sgn(rebuilt - (momentum / (1 + momentum)) * previous)
    return inverse_stft(magnitude * angles)


def istft_half_overlap(spec: torch.Tensor, window: torch.Tensor, length: int) -> torch.Tensor:
    """``torch.istft(spec, n_fft, hop_length=n_fft // 2, window, center=True, length)`` for ``spec [B, n_fft // 2 + 1, T]``:
    at 50% overlap the overlap-add is two shifted half-frame sums (no ``fold``), and the window envelope is
    computed once. ``tests/test_demo.py`` checks it against ``torch.istft``."""
    n_fft = window.shape[0]
    hop = n_fft // 2
    batch, _, frames = spec.shape
    # frames on the last axis, contiguous: every item is transformed alike whatever the batch size
    chunks = torch.fft.irfft(spec.transpose(1, 2).contiguous(), n=n_fft, dim=-1) * window  # [B, T, n_fft]
    out = torch.zeros(batch, frames + 1, hop, dtype=chunks.dtype)
    out[:, :frames] += chunks[..., :hop]
    out[:, 1:] += chunks[..., hop:]
    squared = window.square()
    envelope = torch.zeros(frames + 1, hop, dtype=chunks.dtype)
    envelope[:frames] += squared[:hop]
    envelope[1:] += squared[hop:]
    start = n_fft // 2  # center=True: the first frame is centred on sample 0
    out, envelope = out.reshape(batch, -1)[:, start : start + length], envelope.reshape(-1)[start : start + length]
    if out.shape[-1] < length:
        out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
        envelope = torch.nn.functional.pad(envelope, (0, length - envelope.shape[-1]), value=1.0)
    return out / torch.where(envelope > 1e-11, envelope, torch.ones_like(envelope))


def mel_to_power(basis: np.ndarray, mel: np.ndarray, iters: int) -> np.ndarray:
    """Non-negative STFT power ``[..., n_freq, T]`` whose mel projection approximates ``mel``.

    Multiplicative NNLS updates (Lee & Seung), batched; on these clips 50-100 of them
    match ``librosa.util.nnls`` (L-BFGS-B) in Griffin-Lim round-trip error at a few
    times less cost.
    """
    # only the STFT bins some mel band covers can be non-zero (f_max < Nyquist): solve on those
    band = np.flatnonzero(basis.sum(axis=0) > 0)
    sub = np.ascontiguousarray(basis[:, band])
    sub_t = np.ascontiguousarray(sub.T)
    x = sub_t @ mel + 1e-12  # matmul broadcasts over the batch (BLAS: 5x faster than einsum here)
    numerator = x.copy()
    for _ in range(iters):
        x *= numerator / (sub_t @ (sub @ x) + 1e-12)
    out = np.zeros(mel.shape[:-2] + (basis.shape[1], mel.shape[-1]), dtype=x.dtype)
    out[..., band, :] = x
    return out


def _fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    if wave.shape[-1] >= n:
        return wave[..., :n]
    return np.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(0, n - wave.shape[-1])])


def latent_frames(seconds: float, vae: MelAutoencoder | None = None) -> int:
    """Latent frames of a clip of ``seconds``: ceil(samples / hop_length) (65 for 3 s)."""
    vae = vae if vae is not None else MelAutoencoder()
    return -(-int(round(seconds * vae.sampling_rate)) // vae.hop_length)


# -- build / save / load -------------------------------------------------------------


def build_demo_components(
    checkpoint_dir: str | os.PathLike | None = None,
    dtype: str | torch.dtype = "float32",
    device: str | torch.device = "cpu",
    *,
    sample_size: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The demo components, keyed like ``StableAudioPipeline``'s constructor arguments.

    ``checkpoint_dir=None`` builds the untrained architecture with seeded random
    weights (``sample_size`` latent frames, default 65 = 3 s); otherwise loads a folder
    written by :func:`save_demo_components` (e.g. ``results/demo/model``).
    """
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if checkpoint_dir is None:
        components = _build_untrained(sample_size or 65, seed)
    else:
        components = _load_checkpoint(Path(checkpoint_dir))
    for name in ("transformer", "vae", "text_encoder", "projection_model"):
        module = components[name].to(device=device)
        if module.dtype != torch_dtype:
            module = module.to(dtype=torch_dtype)
        components[name] = module.eval()
    return components


def _build_untrained(sample_size: int, seed: int) -> dict[str, Any]:
    tokenizer = demo_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = MelAutoencoder()
        transformer = StableAudioDiTModel(**demo_transformer_config(sample_size, vae.config.n_mels))
        text_encoder = T5EncoderModel(tiny_t5_config(len(tokenizer), d_model=TEXT_DIM, num_layers=1, num_heads=2))
        projection_model = StableAudioProjectionModel(
            text_encoder_dim=TEXT_DIM, conditioning_dim=TEXT_DIM, min_value=0, max_value=512
        )
    scheduler = CosineDPMSolverMultistepScheduler(**SAO_SCHEDULER_CONFIG)
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "projection_model": projection_model,
        "scheduler": scheduler,
    }


def _load_checkpoint(path: Path) -> dict[str, Any]:
    how = "train it with `snakemake train_demo_model`, or build the untrained demo architecture (checkpoint None)"
    if not path.is_dir():
        raise FileNotFoundError(f"demo checkpoint folder {path} does not exist; {how}")
    missing = [name for name in COMPONENTS if not (path / name).is_dir()]
    if missing:
        raise FileNotFoundError(f"demo checkpoint {path} is incomplete (missing: {', '.join(missing)}); {how}")
    try:
        return {
            "transformer": StableAudioDiTModel.from_pretrained(path / "transformer", use_safetensors=True),
            "vae": MelAutoencoder.from_pretrained(path / "vae", use_safetensors=True),
            "text_encoder": T5EncoderModel.from_pretrained(path / "text_encoder", use_safetensors=True),
            "tokenizer": PreTrainedTokenizerFast.from_pretrained(path / "tokenizer"),
            "projection_model": StableAudioProjectionModel.from_pretrained(
                path / "projection_model", use_safetensors=True
            ),
            "scheduler": CosineDPMSolverMultistepScheduler.from_pretrained(path / "scheduler"),
        }
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise FileNotFoundError(
            f"demo checkpoint {path} cannot be loaded ({exc}); retrain it with `snakemake -R train_demo_model`"
        ) from None


def load_demo_autoencoder(folder: str | os.PathLike) -> MelAutoencoder:
    """The fitted autoencoder alone (``difftone.demo_training.fit_demo_autoencoder``'s folder, or a checkpoint's
    ``vae/``): the latents cache needs only it, not the trained DiT."""
    folder = Path(folder)
    how = "run rule fit_demo_autoencoder (snakemake -R fit_demo_autoencoder)"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no demo autoencoder (config.json missing); {how}")
    try:
        return MelAutoencoder.from_pretrained(folder, use_safetensors=True).eval()
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise FileNotFoundError(f"cannot load the demo autoencoder {folder} ({exc}); {how}") from None


def save_demo_components(components: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write the components as a diffusers-style folder, atomically (temp folder, then rename)."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:
        for name in COMPONENTS:
            component = components[name]
            if name == "tokenizer":
                component.save_pretrained(tmp / name)
            elif name == "scheduler":
                component.save_config(tmp / name)
            else:
                component.save_pretrained(tmp / name, safe_serialization=True)
        index = {"_class_name": "StableAudioPipeline", "_difftone_family": "demo"}
        for name in COMPONENTS:
            module = type(components[name]).__module__
            library = module.split(".")[0]  # diffusers / transformers, as diffusers writes it
            index[name] = [module if library == "difftone" else library, type(components[name]).__name__]
        (tmp / MODEL_INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return out_dir
