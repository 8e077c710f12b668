"""The one loader of Stable Audio Open's components.

``load_sao(spec, dtype, device)`` (or ``load_backbone``) returns :class:`~difftone.models.sao.SAOBackbone`
(the backbone interface of :mod:`difftone.models.backbone`) for

- ``"tiny"``: the real classes, small, seeded random weights, offline (:mod:`.tiny`);
- ``"demo"`` / ``"demo:DIR"``: the demo family (:mod:`.demo`), untrained or from a checkpoint folder;
- ``"demo-autoencoder:DIR"``: the demo family's fitted autoencoder from ``DIR`` with an untrained DiT
  (the latents cache, which runs only the VAE, then need not wait for the demo training);
- a local snapshot folder in the diffusers layout of ``stabilityai/stable-audio-open-1.0``
  (``model_index.json`` and ``transformer/ vae/ text_encoder/ tokenizer/ projection_model/ scheduler/``);
- a hub id (``stabilityai/stable-audio-open-1.0``, gated: the token is read from
  ``HF_TOKEN`` in the environment); only the diffusers-format files are downloaded.

Every failure a user can fix (missing folder, missing weights, no token, no network)
raises :class:`ModelLoadError` with one message saying what to do.

Speed options, the same for every spec: ``compile=True`` (``model.compile``) applies
``torch.compile`` to the DiT (:func:`compile_module`, also used for the classifier);
``window`` / ``window_margin`` (``model.window``, ``model.window_margin_frames``): the frames a
new run denoises (:meth:`SAOBackbone.window_for`).

:class:`ModelSettings` carries these keys together (a rule's ``params.model``,
``get_model_settings()`` in ``workflow/rules/common.smk``); ``ModelSettings.load()`` is
:func:`load_backbone` with them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from difftone.models.hub import ModelLoadError, hub_token, parameter_counts  # re-exported: fetch, callers
from difftone.models.hub import looks_local as _looks_local
from difftone.models.sao import COMPONENT_NAMES, SAOBackbone

log = logging.getLogger(__name__)

WEIGHTED = ("transformer", "vae", "text_encoder", "projection_model")
HUB_ID = "stabilityai/stable-audio-open-1.0"
# Files of the diffusers layout; the repo's top-level model.ckpt/model.safetensors
# (stable-audio-tools format, several GB) are not needed and not downloaded.
SNAPSHOT_PATTERNS = [
    "model_index.json",
    *(f"{name}/*.json" for name in COMPONENT_NAMES),
    *(f"{name}/*.safetensors" for name in WEIGHTED),
    "tokenizer/spiece.model",
]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# The real DiT config of stabilityai/stable-audio-open-1.0 (transformer/config.json):
# used to build the full-size architecture with random weights (benchmark).
SAO_TRANSFORMER_CONFIG: dict[str, Any] = {
    "attention_head_dim": 64,
    "cross_attention_dim": 768,
    "cross_attention_input_dim": 768,
    "global_states_input_dim": 1536,
    "in_channels": 64,
    "num_attention_heads": 24,
    "num_key_value_attention_heads": 12,
    "num_layers": 24,
    "out_channels": 64,
    "sample_size": 1024,
    "time_proj_dim": 256,
}


def compile_module(module: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile`` the module in place (``nn.Module.compile``: the class, its config and its weights
    stay as they are, only ``forward`` is compiled, at the first call of each input shape). On CUDA it
    uses ``mode="reduce-overhead"`` (CUDA graphs: the DiT steps of a run are launch-bound); elsewhere the
    default mode."""
    param = next(module.parameters(), None)
    cuda = param is not None and param.device.type == "cuda"
    module.compile(mode="reduce-overhead" if cuda else None, dynamic=None)
    return module


def load_sao(
    spec: str,
    dtype: str = "float32",
    device: str = "cpu",
    compile: bool = False,
    window: str = "full",
    window_margin: int = 8,
) -> SAOBackbone:
    """Load Stable Audio Open's components from ``spec`` (see the module docstring)."""
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    torch_dtype = DTYPES[dtype]
    _check_device(device)
    spec = str(spec).strip()
    if spec == "tiny":
        from difftone.models.tiny import build_tiny_components

        parts = build_tiny_components()
    elif spec.startswith("demo-autoencoder:"):
        parts = _load_demo_autoencoder(spec.partition(":")[2], dtype, device)
    elif spec == "demo" or spec.startswith("demo:"):
        parts = _load_demo(spec.partition(":")[2] or None, dtype, device)
    elif _looks_local(spec):
        parts = _load_snapshot(Path(spec).expanduser(), torch_dtype)
    else:
        parts = _load_snapshot(_download(spec), torch_dtype)
    try:
        components = SAOBackbone(
            **{name: parts[name] for name in COMPONENT_NAMES},
            spec=spec,
            window=window,
            window_margin=int(window_margin),
        )
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    for name in WEIGHTED:
        module = getattr(components, name).to(device=device)
        if module.dtype != torch_dtype:
            module = module.to(dtype=torch_dtype)
        module.eval().requires_grad_(False)
        setattr(components, name, module)
    if compile:
        compile_module(components.transformer)
    log.info(
        "loaded %s: %s on %s, window %.2f s (%s), %d latent channels%s",
        spec,
        dtype,
        device,
        components.max_duration,
        window,
        components.latent_channels,
        ", DiT compiled" if compile else "",
    )
    log.info(
        "SAO parameters: %s",
        parameter_counts(
            {"DiT": components.transformer, "VAE": components.vae, "text encoder": components.text_encoder}
        ),
    )
    return components


def load_backbone(
    spec: str,
    dtype: str = "float32",
    device: str = "cpu",
    compile: bool = False,
    window: str = "full",
    window_margin: int = 8,
):
    """The backbone of ``spec`` (:class:`difftone.models.backbone.Backbone`): AudioLDM2 for
    ``audioldm2-tiny``, ``cvssp/audioldm2*`` or a snapshot of ``AudioLDM2Pipeline``
    (:mod:`difftone.models.audioldm2`); every other spec names a Stable Audio Open model (:func:`load_sao`)."""
    from difftone.models.audioldm2 import is_audioldm2_spec, load_audioldm2

    if is_audioldm2_spec(spec):
        if dtype not in DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        _check_device(device)
        if window != "full":
            raise ModelLoadError(f"model.window {window!r}: AudioLDM2 denoises its whole window; use full")
        backbone = load_audioldm2(str(spec).strip(), DTYPES[dtype], device)
        if compile:
            compile_module(backbone.denoiser)
        return backbone
    return load_sao(spec, dtype=dtype, device=device, compile=compile, window=window, window_margin=window_margin)


def _check_device(device: str) -> None:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available; use --device cpu")


def _load_demo(checkpoint_dir: str | None, dtype: str, device: str) -> dict[str, Any]:
    try:
        from difftone.models.demo import build_demo_components
    except ImportError as exc:
        raise ModelLoadError(
            f"the demo model family (difftone.models.demo) is not available ({exc}); use the spec 'tiny'"
        ) from None
    if checkpoint_dir is not None and not Path(checkpoint_dir).is_dir():
        raise ModelLoadError(
            f"demo checkpoint folder {checkpoint_dir} does not exist; train it with the workflow "
            "(snakemake) or use the spec 'demo' for untrained demo weights"
        )
    try:
        return build_demo_components(checkpoint_dir, dtype, device)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load the demo checkpoint {checkpoint_dir}: {exc}") from None


def _load_demo_autoencoder(folder: str, dtype: str, device: str) -> dict[str, Any]:
    """The demo family with the fitted autoencoder of ``folder`` and untrained DiT/text encoder: for the
    latents cache, which runs only the VAE (it then need not wait for the DiT's training)."""
    from difftone.models.demo import load_demo_autoencoder

    parts = _load_demo(None, dtype, device)
    try:
        parts["vae"] = load_demo_autoencoder(folder).to(device=device)
    except FileNotFoundError as exc:
        raise ModelLoadError(str(exc)) from None
    return parts


def _download(repo_id: str) -> Path:
    """Download (or reuse from the HF cache) the diffusers-format files of ``repo_id``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    token = hub_token()
    try:
        return Path(snapshot_download(repo_id, allow_patterns=SNAPSHOT_PATTERNS, token=token))
    except GatedRepoError:
        how = "the token in HF_TOKEN has no access" if token else "HF_TOKEN is not set"
        raise ModelLoadError(
            f"{repo_id} is gated and {how}: accept the licence at https://huggingface.co/{repo_id} "
            "and export HF_TOKEN=<a read token of that account>"
        ) from None
    except RepositoryNotFoundError:
        hint = "" if token else " (if it is private or gated, export HF_TOKEN)"
        raise ModelLoadError(
            f"model {repo_id!r} is neither a local folder nor a Hugging Face repository{hint}"
        ) from None
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"cannot reach the Hugging Face hub to download {repo_id} and it is not in the local cache; "
            "connect to the internet, or pass a local snapshot folder"
        ) from None
    except HfHubHTTPError as exc:
        raise ModelLoadError(f"downloading {repo_id} failed: {exc}") from None


def read_snapshot_configs(root: Path) -> dict[str, dict[str, Any]]:
    """Check the diffusers layout of a snapshot folder and read its component configs."""
    if not root.is_dir():
        raise ModelLoadError(f"model folder {root} does not exist; pass a snapshot of {HUB_ID}, a hub id, or 'tiny'")
    index_path = root / "model_index.json"
    if not index_path.is_file():
        raise ModelLoadError(
            f"{root} has no model_index.json: not a diffusers snapshot of Stable Audio Open "
            f"(download it with `huggingface-cli download {HUB_ID}`)"
        )
    index = json.loads(index_path.read_text())
    missing = [name for name in COMPONENT_NAMES if name not in index or not (root / name).is_dir()]
    if missing:
        raise ModelLoadError(f"snapshot {root} lacks the component folders {', '.join(missing)}")
    configs = {"model_index": index}
    for name in COMPONENT_NAMES:
        fname = {"tokenizer": "tokenizer_config.json", "scheduler": "scheduler_config.json"}.get(name, "config.json")
        path = root / name / fname
        if not path.is_file():
            raise ModelLoadError(f"snapshot {root} lacks {path.relative_to(root)}")
        configs[name] = json.loads(path.read_text())
    for name in WEIGHTED:
        if not any((root / name).glob("*.safetensors")):
            raise ModelLoadError(
                f"snapshot {root} has no weights in {name}/ (*.safetensors): the download is incomplete; "
                f"download it again (`huggingface-cli download {HUB_ID}`)"
            )
    tok = root / "tokenizer"
    if not ((tok / "tokenizer.json").is_file() or (tok / "spiece.model").is_file()):
        raise ModelLoadError(f"snapshot {root} has no tokenizer/tokenizer.json nor tokenizer/spiece.model")
    return configs


def _load_snapshot(root: Path, torch_dtype: torch.dtype) -> dict[str, Any]:
    """Load each component from its subfolder with the library's own ``from_pretrained``."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioProjectionModel,
    )
    from transformers import AutoTokenizer, T5EncoderModel

    read_snapshot_configs(root)
    path = str(root)
    try:
        return {
            "transformer": StableAudioDiTModel.from_pretrained(path, subfolder="transformer", torch_dtype=torch_dtype),
            "vae": AutoencoderOobleck.from_pretrained(path, subfolder="vae", torch_dtype=torch_dtype),
            "text_encoder": T5EncoderModel.from_pretrained(path, subfolder="text_encoder", dtype=torch_dtype),
            "tokenizer": AutoTokenizer.from_pretrained(path, subfolder="tokenizer"),
            "projection_model": StableAudioProjectionModel.from_pretrained(
                path, subfolder="projection_model", torch_dtype=torch_dtype
            ),
            "scheduler": CosineDPMSolverMultistepScheduler.from_pretrained(path, subfolder="scheduler"),
        }
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the snapshot {root}: {exc}") from None


def save_snapshot(components: SAOBackbone, out_dir: str | os.PathLike) -> Path:
    """Write components in the diffusers layout of the real repo (``StableAudioPipeline.save_pretrained``)."""
    from diffusers import StableAudioPipeline

    out = Path(out_dir)
    StableAudioPipeline(**components.as_pipeline_kwargs()).save_pretrained(out, safe_serialization=True)
    return out


@dataclass(frozen=True)
class ModelSettings:
    """Which generative model a stage loads, and how: ``spec`` (``model.spec``), ``dtype``
    (``model.dtype``), ``device`` (``device``), ``compile`` (``model.compile``), ``window`` and
    ``window_margin`` (``model.window``, ``model.window_margin_frames``)."""

    spec: str
    dtype: str = "float32"
    device: str = "cpu"
    compile: bool = False
    window: str = "full"
    window_margin: int = 8

    @classmethod
    def of(cls, value: ModelSettings | Mapping[str, Any] | str) -> ModelSettings:
        """From a rule's ``params.model`` (a plain dict of these keys), a spec alone (the other keys'
        defaults: CPU, float32), or settings."""
        if isinstance(value, cls):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls(spec=str(value))
        if isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown or "spec" not in value:
                raise ModelLoadError(
                    f"model settings {dict(value)}: give spec and any of {', '.join(sorted(known))}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                )
            return cls(**value)
        raise ModelLoadError(f"model settings must be a spec, a dict or ModelSettings, got {value!r}")

    def load(self):
        """The backbone (:func:`load_backbone`)."""
        return load_backbone(
            self.spec,
            dtype=self.dtype,
            device=self.device,
            compile=self.compile,
            window=self.window,
            window_margin=self.window_margin,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
