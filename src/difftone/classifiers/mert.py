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

``extractor.hidden_states(wave, sr)`` returns ``[B, L, T, D]``: all hidden states, or the
``layers`` chosen. They are what transformers' ``HubertModel`` returns for
``output_hidden_states=True`` (the input to the first encoder layer, i.e. the projected
features after the positional convolution, layer norm and dropout, then every layer's
output), but recorded with hooks on the encoder's layers: MERT's remote ``forward`` calls
the encoder itself, and under transformers 5 its ``hidden_states`` are ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


def _load_hint(spec: str, revision: str | None) -> str:
    """What to do when ``spec`` cannot be loaded: download a hub id, or complete a local folder."""
    from difftone.models.fetch import is_hub_id

    if is_hub_id(spec):
        return (
            f"With network access it is downloaded from the Hugging Face hub; offline, download it first "
            f"(`hf download {spec} --revision {revision or 'main'}`) or set teacher_features.spec "
            "to a local snapshot folder, or to `tiny` for the offline stand-in."
        )
    if not Path(spec).is_dir():
        return f"{spec} is not a folder: set teacher_features.spec to a MERT snapshot folder, a hub id or `tiny`."
    return (
        f"{spec} must be a complete MERT snapshot: config.json (with its auto_map), configuration_MERT.py, "
        "modeling_MERT.py, preprocessor_config.json and the weights, as fetch_models writes it "
        "(resources/models/mert) from teacher_features.spec set to the hub id."
    )


def _encoder_layers(model: torch.nn.Module, spec: str) -> torch.nn.ModuleList:
    """The transformer layers whose outputs are the hidden states (HuBERT's ``encoder.layers``)."""
    layers = getattr(getattr(model, "encoder", None), "layers", None)
    n = model.config.num_hidden_layers
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) != n:
        raise MertLoadError(
            f"MERT {spec!r} ({type(model).__name__}) has no encoder.layers of its {n} transformer layers: "
            "teacher_features.spec must name a HuBERT-style model (MERT-v1)"
        )
    return layers


@contextmanager
def _recorded_hidden_states(layers: torch.nn.ModuleList) -> Iterator[list[torch.Tensor]]:
    """Record ``HubertModel``'s hidden states while in the block: the first layer's input, then every layer's output."""
    states: list[torch.Tensor] = []

    def first_input(module, args, kwargs):
        if not states:
            states.append(args[0] if args else kwargs["hidden_states"])

    def output(module, args, out):
        states.append(out[0] if isinstance(out, tuple) else out)

    handles = [layers[0].register_forward_pre_hook(first_input, with_kwargs=True)]
    handles += [layer.register_forward_hook(output) for layer in layers]
    try:
        yield states
    finally:
        for handle in handles:
            handle.remove()


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
            f"cannot load MERT {spec!r} (revision {revision}): {exc}\n{_load_hint(spec, revision)}"
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
        self._layers = _encoder_layers(self.model, spec)
        n_all = self.model.config.num_hidden_layers + 1
        if layers:
            bad = [i for i in layers if not -n_all <= i < n_all]
            if bad:
                raise ValueError(f"teacher_features.layers {bad} out of range: MERT {spec!r} has {n_all} hidden states")
        self.layers = list(layers) if layers else None
        self.num_layers = len(self.layers) if self.layers else n_all
        self.hidden_size = int(self.model.config.hidden_size)
        log.info(
            "loaded MERT %s (revision %s): %d hidden states of %d on %s",
            spec,
            revision,
            self.num_layers,
            self.hidden_size,
            self.device,
        )
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
            raise ValueError(
                f"expected audio [samples], [channels, samples] or [batch, channels, samples], got {w.shape}"
            )
        mono = audio.resample(w.mean(axis=1), sr, self.sample_rate)
        if mono.shape[-1] < self.min_samples:
            mono = np.pad(mono, ((0, 0), (0, self.min_samples - mono.shape[-1])))
        return mono

    @torch.no_grad()
    def hidden_states(self, wave: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        mono = self.prepare(wave, sr)
        inputs = self.processor(list(mono), sampling_rate=self.sample_rate, return_tensors="pt")
        values = inputs["input_values"].to(self.device, self.dtype)
        with _recorded_hidden_states(self._layers) as states:
            self.model(values)
        if len(states) != self.model.config.num_hidden_layers + 1:
            raise RuntimeError(
                f"MERT {self.spec!r} ran {len(states) - 1} of its {self.model.config.num_hidden_layers} encoder layers "
                "(layer drop in training mode?): its hidden states are incomplete"
            )
        hidden = torch.stack(states, dim=1)  # [B, L, T, D]
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
