"""MERT hidden states: the teacher's input (cached per clip by
:func:`difftone.classifiers.features.extract_mert_features`).

``load_mert(spec, revision, ...)`` returns a :class:`MertExtractor` for

* a hub id (``m-a-p/MERT-v1-95M``, ``m-a-p/MERT-v1-330M``) at a pinned ``revision``,
  or a local snapshot folder of one: MERT's own remote code through
  ``transformers`` (``trust_remote_code=True``). Since transformers 4.48 its
  config lacks ``conv_pos_batch_norm``, which the HuBERT positional convolution
  reads: it is set to ``False`` before the model is built. The processor is
  ``Wav2Vec2FeatureExtractor`` (zero mean, unit variance, 24 kHz);
* ``tiny``: an offline stand-in with the same interface, a small seeded
  ``transformers.HubertModel`` (conv strides 5*2**6 = 320: 75 frames/s at 24 kHz,
  like MERT; 5 hidden states of 64).

``extractor.hidden_states(wave, sr)`` returns ``[B, L, T, D]``: all hidden states
(``output_hidden_states=True``: embeddings + every layer), or the ``layers`` chosen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

from difftone import audio

log = logging.getLogger(__name__)

MERT_SAMPLE_RATE = 24000
TINY_SEED = 0


class MertLoadError(RuntimeError):
    """MERT weights could not be loaded (missing snapshot, no network, wrong revision)."""


def tiny_mert_config() -> HubertConfig:
    """The offline stand-in: 4 transformer layers of 64, MERT's conv front end geometry."""
    return HubertConfig(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        conv_dim=(32,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        mask_time_prob=0.0,
    )


def _load_model(spec: str, revision: str | None, sample_rate: int):
    if spec == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_SEED)
            model = HubertModel(tiny_mert_config())
        processor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=sample_rate, padding_value=0.0, do_normalize=True, return_attention_mask=True
        )
        return model, processor
    from transformers import AutoConfig, AutoModel

    if revision is None and not Path(spec).is_dir():
        log.warning("MERT %s is not pinned: set teacher_features.revision to a commit hash for reproducibility", spec)
    try:
        config = AutoConfig.from_pretrained(spec, revision=revision, trust_remote_code=True)
        # transformers >= 4.48 reads config.conv_pos_batch_norm, which MERTConfig lacks
        config.conv_pos_batch_norm = False
        model = AutoModel.from_pretrained(spec, revision=revision, config=config, trust_remote_code=True)
        processor = Wav2Vec2FeatureExtractor.from_pretrained(spec, revision=revision)
    except (OSError, ValueError, ImportError) as exc:
        raise MertLoadError(
            f"cannot load MERT {spec!r} (revision {revision}): {exc}\n"
            f"With network access it is downloaded from the Hugging Face hub; offline, download it first "
            f"(`huggingface-cli download {spec} --revision {revision or 'main'}`) or set teacher_features.spec "
            "to a local snapshot folder, or to `tiny` for the offline stand-in."
        ) from None
    if processor.sampling_rate != sample_rate:
        raise MertLoadError(
            f"MERT {spec!r} expects {processor.sampling_rate} Hz input but teacher_features.sample_rate is {sample_rate}"
        )
    return model, processor


class MertExtractor:
    """A MERT model and its processor; ``hidden_states(wave, sr) -> [B, L, T, D]`` (float32, CPU)."""

    def __init__(
        self,
        spec: str = "tiny",
        revision: str | None = None,
        sample_rate: int = MERT_SAMPLE_RATE,
        layers: list[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.spec, self.revision, self.sample_rate = spec, revision, int(sample_rate)
        self.device, self.dtype = torch.device(device), dtype
        self.model, self.processor = _load_model(spec, revision, self.sample_rate)
        self.model.to(self.device, dtype).eval().requires_grad_(False)
        n_all = self.model.config.num_hidden_layers + 1
        if layers:
            bad = [i for i in layers if not -n_all <= i < n_all]
            if bad:
                raise ValueError(f"teacher_features.layers {bad} out of range: MERT {spec!r} has {n_all} hidden states")
        self.layers = list(layers) if layers else None
        self.num_layers = len(self.layers) if self.layers else n_all
        self.hidden_size = int(self.model.config.hidden_size)
        log.info("loaded MERT %s (revision %s): %d hidden states of %d on %s", spec, revision, self.num_layers,
                 self.hidden_size, self.device)
        # samples needed for one frame (400 for MERT's conv front end); shorter audio is zero-padded
        self.min_samples = 1
        for k, s in reversed(list(zip(self.model.config.conv_kernel, self.model.config.conv_stride))):
            self.min_samples = (self.min_samples - 1) * s + k

    def producer(self) -> dict[str, Any]:
        """What identifies these features in the cache."""
        return {"mert": self.spec, "revision": self.revision, "sample_rate": self.sample_rate, "layers": self.layers}

    def prepare(self, wave: np.ndarray | torch.Tensor, sr: int) -> np.ndarray:
        """Any ``[samples]``, ``[ch, samples]`` or ``[B, ch, samples]`` at ``sr`` -> mono ``[B, samples]`` at MERT's rate."""
        w = wave.detach().cpu().float().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave, np.float32)
        if w.ndim == 1:
            w = w[None, None]
        elif w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[-1] == 0:
            raise ValueError(f"expected audio [samples], [channels, samples] or [batch, channels, samples], got {w.shape}")
        mono = audio.resample(w.mean(axis=1), sr, self.sample_rate)
        if mono.shape[-1] < self.min_samples:
            mono = np.pad(mono, ((0, 0), (0, self.min_samples - mono.shape[-1])))
        return mono

    @torch.no_grad()
    def hidden_states(self, wave: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        mono = self.prepare(wave, sr)
        inputs = self.processor(list(mono), sampling_rate=self.sample_rate, return_tensors="pt")
        values = inputs["input_values"].to(self.device, self.dtype)
        out = self.model(values, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states, dim=1)  # [B, L, T, D]
        if self.layers:
            hidden = hidden[:, self.layers]
        return hidden.float().cpu()


def load_mert(
    spec: str = "tiny",
    revision: str | None = None,
    sample_rate: int = MERT_SAMPLE_RATE,
    layers: list[int] | None = None,
    device: str | torch.device = "cpu",
) -> MertExtractor:
    """A :class:`MertExtractor` for ``tiny``, a hub id at ``revision``, or a local snapshot folder."""
    return MertExtractor(spec, revision, sample_rate, layers, device)
