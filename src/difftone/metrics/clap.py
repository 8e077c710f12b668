"""CLAP-LAION music audio embeddings in transformers' ``ClapModel``, for KAD.

The KAD reference tool ("clap-laion-music" in kadtk) uses LAION's original
checkpoint ``music_audioset_epoch_15_esc_90.14.pt`` (hub repo ``lukewys/laion_clap``;
``enable_fusion=False``, audio model HTSAT-base, text model RoBERTa-base, 512-d
joint space). ``laion-clap`` itself cannot be installed beside this project, and
the hub's ``laion/larger_clap_music`` conversion is a different, reportedly
collapsed model, so we map the original weights into ``ClapModel`` the way
transformers' ``convert_clap_original_pytorch_to_hf.py`` does
(:func:`convert_laion_state_dict`) and cache the result as safetensors + config.json.

Embedding protocol (as kadtk's CLAPLaionModel):

- audio mixed to mono, resampled to 48 kHz, clipped to [-1, 1] and round-tripped
  through int16 (``x -> int16(x * 32767) / 32767``);
- windows of ``window_s`` (10 s) start every ``hop_s`` (1 s) at 0, hop, 2 hop, ...
  while the start lies inside the clip; a window running past the end is
  zero-padded to the full 10 s. A clip shorter than a window (IRMAS clips are
  3 s) therefore gives ceil(3 s / 1 s) = 3 windows, each the clip's remaining
  tail followed by silence; nothing is repeated or stretched;
- each window -> ``ClapFeatureExtractor`` log-mel (64 bands, 50-14 000 Hz, FFT
  1024, hop 480, no fusion) -> ``ClapModel.get_audio_features`` -> the
  L2-normalised 512-d embedding. One window = one embedding row.

Model specs (``metrics.clap.checkpoint``):

- ``tiny``: a small randomly initialised ``ClapModel`` (seeded) with the same
  classes, feature extractor and windows: the offline stand-in;
- ``<repo_id>/<file>.pt`` (e.g. ``lukewys/laion_clap/music_audioset_epoch_15_esc_90.14.pt``)
  or a local ``.pt`` path: an original LAION checkpoint, converted once;
- a ``.safetensors`` file of a state dict, under the original names or ClapModel's;
- a folder with ``config.json`` + ``model.safetensors``: an already converted model.

Opening an original ``.pt`` (``metrics.clap.sha256``): LAION's files are torch pickles of
``{epoch, name, state_dict, optimizer}`` saved with pickle protocol 4 and numpy scalars among
the optimizer's entries, which torch's weights-only unpickler refuses (torch 2.13: "Unsupported
operand 149"; numpy scalar globals). So a file whose sha256 is pinned is hashed first and, only
when the hash matches, unpickled in full, converted, and cached as safetensors in
``cache_dir/<stem>-<sha256 prefix>/`` with a ``conversion.json`` naming the verified hash; every
later load reads that cache (nothing unpickled, the ``.pt`` not even opened). A file without a
pin is opened weights-only, which a plain tensor file passes and LAION's files do not; nothing
unverified is ever unpickled in full.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

if TYPE_CHECKING:  # transformers' CLAP is imported where a model is built: 4 s that a job reading embeddings skips
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

from difftone.files import atomic_folder, atomic_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
LAION_MUSIC_CHECKPOINT = "lukewys/laion_clap/music_audioset_epoch_15_esc_90.14.pt"
# sha256 of LAION's music_audioset_epoch_15_esc_90.14.pt (2 352 471 003 bytes, hub commit b370834 of
# lukewys/laion_clap), as pinned by several independent public projects that download it (configs/paper.yaml)
LAION_MUSIC_SHA256 = "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd"
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
CONVERSION_RECORD = "conversion.json"  # in a converted cache folder: the verified source and its sha256

# transformers' convert_clap_original_pytorch_to_hf.py, KEYS_TO_MODIFY_MAPPING (applied in order)
KEYS_TO_MODIFY_MAPPING = {
    "text_branch": "text_model",
    "audio_branch": "audio_model.audio_encoder",
    "attn": "attention.self",
    "self.proj": "output.dense",
    "attention.self_mask": "attn_mask",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "bn0": "batch_norm",
}
# Original-only tensors that ClapModel does not hold (the conversion script drops them with strict=False):
# the torchlibrosa STFT/mel front end (ClapFeatureExtractor replaces it), HTSAT's AudioSet head, the
# precomputed Swin attention masks, and the MLP "transform" heads used only in CLAP training.
IGNORED_ORIGINAL_KEYS = re.compile(
    r"(spectrogram_extractor|logmel_extractor|\.attn_mask$|audio_model\.audio_encoder\.(head|tscam_conv)\."
    r"|^(text|audio)_transform\.)"
)
# Buffers ClapModel rebuilds deterministically; an original checkpoint may lack them.
REBUILT_BUFFERS = re.compile(r"(position_ids|token_type_ids)$")


class ClapCheckpointError(RuntimeError):
    """A CLAP checkpoint is missing, unreadable, or does not match the expected architecture."""


class EmbeddingCollapseError(RuntimeError):
    """An embedding set is near-identical vectors: the embedder cannot tell clips apart."""


# ---------------------------------------------------------------------------------------------
# configs


def laion_music_config() -> ClapConfig:
    """ClapConfig of LAION's music checkpoint: HTSAT-base audio (embed 128, depths 2-2-12-2,
    heads 4-8-16-32, window 8, spec 256, 64 mels, 1024-d), RoBERTa-base text, 512-d projection, no fusion."""
    from transformers import ClapConfig

    return ClapConfig(
        audio_config=dict(
            patch_embeds_hidden_size=128,
            depths=[2, 2, 12, 2],
            num_attention_heads=[4, 8, 16, 32],
            hidden_size=1024,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            enable_fusion=False,
        ),
        text_config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, layer_norm_eps=1e-5),
        projection_dim=512,
    )


def tiny_clap_config() -> ClapConfig:
    """A few-layer ClapConfig with the real input geometry (64 mels, spec 256) for offline runs."""
    from transformers import ClapConfig

    return ClapConfig(
        audio_config=dict(
            patch_embeds_hidden_size=16,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            hidden_size=32,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            patch_size=8,
            patch_stride=[8, 8],
            enable_fusion=False,
        ),
        text_config=dict(
            vocab_size=128,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=40,
            layer_norm_eps=1e-5,
        ),
        projection_dim=16,
    )


@torch.no_grad()
def build_tiny_clap(seed: int = 0, window_s: float = 10.0) -> ClapModel:
    """The offline stand-in: tiny ClapModel with seeded random weights.

    A random Swin pools mostly what all windows share (padding silence), so its
    raw embeddings are near-identical. One calibration makes it discriminative:
    the audio projection is centred on the embedding of an all-silent window
    (``linear1.bias = -W1 @ pooled(silence)``, ``linear2.bias = 0``).
    """
    from transformers import ClapModel

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ClapModel(tiny_clap_config()).eval()
    window = int(round(window_s * SAMPLE_RATE))
    silence = clap_feature_extractor(window_s)(
        [np.zeros(window, dtype=np.float32)], sampling_rate=SAMPLE_RATE, max_length=window, return_tensors="pt"
    )["input_features"]
    pooled = model.audio_model(input_features=silence).pooler_output[0]
    proj = model.audio_projection
    proj.linear1.bias.copy_(-proj.linear1.weight @ pooled)
    proj.linear2.bias.zero_()
    return model


def clap_log_mel(windows: np.ndarray, feature_extractor: ClapFeatureExtractor) -> torch.Tensor:
    """``feature_extractor``'s input features of full-length windows ``[n, max_length]`` -> ``[n, 1, frames, 64]``.

    The extractor's non-fusion path (``rand_trunc``: windows of exactly ``nb_max_samples``, so nothing is cut,
    padded or repeated) in torch's batched FFT: reflect-padded centred frames, periodic Hann, power spectrum,
    the Slaney mel bank, ``10 log10(max(mel, 1e-10))``. transformers computes it one frame's numpy FFT at a
    time, which was half of a scoring job (cProfile: 35 s of 65 s); ``tests/test_metrics.py`` checks it
    against the extractor itself."""
    fe = feature_extractor
    windows = np.asarray(windows)
    if fe.truncation == "fusion" or windows.ndim != 2 or windows.shape[1] != int(fe.nb_max_samples):
        raise ValueError(
            f"clap_log_mel takes non-fusion windows of {int(fe.nb_max_samples)} samples, "
            f"got shape {windows.shape} with truncation {fe.truncation!r}"
        )
    x = torch.from_numpy(windows.astype(np.float64))  # float32 is 2x faster but 0.04 dB off in quiet bands
    window = torch.hann_window(fe.fft_window_size, periodic=True, dtype=torch.float64)
    spec = torch.stft(
        x,
        n_fft=fe.fft_window_size,
        hop_length=fe.hop_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = torch.view_as_real(spec).square().sum(-1)  # |z|^2 without complex abs (a sixth of the time)
    mel = torch.einsum("fm,nft->nmt", torch.from_numpy(np.asarray(fe.mel_filters_slaney, np.float64)), power)
    return (10.0 * torch.log10(mel.clamp(min=1e-10))).transpose(1, 2)[:, None].float()


def clap_feature_extractor(window_s: float = 10.0) -> ClapFeatureExtractor:
    """LAION's audio front end (HTSAT audio_cfg: 48 kHz, FFT 1024, hop 480, 64 mels, 50-14 000 Hz)."""
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=SAMPLE_RATE,
        hop_length=480,
        max_length_s=window_s,
        fft_window_size=1024,
        frequency_min=50,
        frequency_max=14_000,
        truncation="rand_trunc",  # non-fusion path; windows are exactly max_length, so nothing is cut
        padding="repeatpad",
    )


# ---------------------------------------------------------------------------------------------
# checkpoint conversion


def convert_laion_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original LAION-CLAP state dict to ClapModel's keys (as transformers' script).

    A ``module.`` prefix (DDP) is stripped; fused ``qkv`` tensors are split into
    query/key/value; ``nn.Sequential`` projections/MLPs become ``linear1``/``linear2``/``layers.N``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("module."):
            key = key[len("module.") :]
        for old, new in KEYS_TO_MODIFY_MAPPING.items():
            if old in key:
                key = key.replace(old, new)
        seq = re.match(r".*sequential.(\d+).*", key)
        proj = re.match(r".*_projection.(\d+).*", key)
        if seq:
            n = seq.group(1)
            key = key.replace(f"sequential.{n}.", f"layers.{int(n) // 3}.linear.")
        elif proj:
            n = int(proj.group(1))
            key = key.replace(f"_projection.{n}.", f"_projection.linear{1 if n == 0 else 2}.")
        if "qkv" in key:
            q, k, v = value.chunk(3, dim=0)
            out[key.replace("qkv", "query")] = q
            out[key.replace("qkv", "key")] = k
            out[key.replace("qkv", "value")] = v
        else:
            out[key] = value
    return out


def load_converted_state_dict(model: ClapModel, converted: Mapping[str, torch.Tensor], source: str) -> ClapModel:
    """Load a converted state dict, failing clearly on missing weights or foreign tensors."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in converted and not REBUILT_BUFFERS.search(k))
    unexpected = sorted(k for k in converted if k not in expected and not IGNORED_ORIGINAL_KEYS.search(k))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in converted and tuple(converted[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mismatched:

        def show(items):
            return ", ".join(items[:8]) + (f" ... ({len(items)} in all)" if len(items) > 8 else "")

        raise ClapCheckpointError(
            f"{source} does not match the CLAP architecture it was loaded into "
            f"(is it an HTSAT-base, non-fusion LAION-CLAP checkpoint?):"
            + (f"\n  missing weights: {show(missing)}" if missing else "")
            + (f"\n  unexpected weights: {show(unexpected)}" if unexpected else "")
            + (f"\n  shape mismatches: {show(mismatched)}" if mismatched else "")
        )
    model.load_state_dict({k: v for k, v in converted.items() if k in expected}, strict=False)
    return model.eval()


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks (a 2.35 GB checkpoint: a few seconds)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_sha256_pin(sha256: str | None, key: str = "metrics.clap.sha256") -> str | None:
    """``sha256`` lower-cased, or an error naming ``key`` when it is not 64 hex digits."""
    if sha256 is None:
        return None
    pin = str(sha256).strip().lower()
    if not SHA256_PATTERN.fullmatch(pin):
        raise ClapCheckpointError(
            f"{key}={sha256!r} is not a sha256 (64 hex digits); put the checkpoint "
            f"file's sha256 there (`sha256sum <file>`), or null"
        )
    return pin


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ClapCheckpointError` unless ``path``'s sha256 is ``expected`` (nothing is read as a pickle)."""
    actual = file_sha256(path)
    if actual != expected:
        raise ClapCheckpointError(
            f"CLAP checkpoint {path} has sha256 {actual}, but its pin (metrics.clap.sha256, or judge.sha256 for "
            f"the judge's own checkpoint) is {expected}: it is not the file the config names (an interrupted or "
            f"corrupted download, or another checkpoint), so it was not unpickled and nothing was written. Delete "
            f"it and fetch it again (rule fetch_models), or, if you trust this file, pin its own sha256 there."
        )


def read_laion_checkpoint(path: str | Path, sha256: str | None = None) -> Mapping[str, torch.Tensor]:
    """The state dict of an original LAION-CLAP ``.pt`` (module docstring: pinned files are verified,
    then unpickled in full; unpinned files are opened weights-only)."""
    path = Path(path)
    if not path.is_file():
        raise ClapCheckpointError(f"CLAP checkpoint {path} does not exist; set metrics.clap.checkpoint")
    pin = check_sha256_pin(sha256)
    if pin is not None:
        verify_sha256(path, pin)
        log.info("CLAP: %s matches its pinned sha256; unpickling it", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=pin is None)  # full unpickling: verified only
    except Exception as exc:
        if pin is not None:
            raise ClapCheckpointError(
                f"cannot read CLAP checkpoint {path} (its sha256 matches the pin): {exc}"
            ) from None
        name = Path(path).name
        known = f" (LAION's {name}: {LAION_MUSIC_SHA256})" if name == Path(LAION_MUSIC_CHECKPOINT).name else ""
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next(
            (
                line.removeprefix("WeightsUnpickler error: ").split(" was not")[0]
                for line in lines
                if "Unsupported" in line
            ),
            lines[0] if lines else repr(exc),
        )
        raise ClapCheckpointError(
            f"cannot read CLAP checkpoint {path} weights-only ({reason}). LAION's original "
            f"checkpoints are pickles that need full unpickling (pickle protocol 4, numpy scalars), which is done "
            f"only for a file whose sha256 is pinned: set metrics.clap.sha256 to the file's published sha256"
            f"{known}; it is then verified, read once and cached as safetensors."
        ) from None
    state_dict = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ClapCheckpointError(f"{path} holds no state dict of tensors")
    return state_dict


def load_laion_checkpoint(path: str | Path, config: ClapConfig | None = None, sha256: str | None = None) -> ClapModel:
    """An original LAION-CLAP ``.pt`` checkpoint as a ClapModel (default config: the music checkpoint's);
    ``sha256``: its pinned hash (:func:`read_laion_checkpoint`)."""
    state_dict = read_laion_checkpoint(path, sha256)
    return load_converted_state_dict(
        _empty_clap(config or laion_music_config()), convert_laion_state_dict(state_dict), str(path)
    )


def _empty_clap(config: ClapConfig) -> ClapModel:
    """A ClapModel whose weights are left uninitialised (12 s of random init at HTSAT-base size): every
    weight is then loaded, :func:`load_converted_state_dict` fails on any missing one; the buffers
    (position ids, relative position indices) are built as usual."""
    from transformers import ClapModel

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # another transformers layout: initialise as usual
        no_init_weights = contextlib.nullcontext
    with no_init_weights():
        return ClapModel(config)


def load_safetensors_state_dict(path: str | Path, config: ClapConfig) -> ClapModel:
    """A ``.safetensors`` state dict (original LAION names, ``module.`` or not, or ClapModel's) as a ClapModel."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state_dict = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ClapCheckpointError(f"cannot read CLAP safetensors file {path}: {exc}") from None
    original = any(k.removeprefix("module.").startswith(("text_branch.", "audio_branch.")) for k in state_dict)
    converted = convert_laion_state_dict(state_dict) if original else state_dict
    return load_converted_state_dict(_empty_clap(config), converted, str(path))


def _save_atomic(model: ClapModel, out_dir: Path, record: Mapping) -> None:
    with atomic_folder(out_dir) as tmp:
        model.save_pretrained(tmp)  # config.json + model.safetensors
        (tmp / CONVERSION_RECORD).write_text(json.dumps(dict(record), indent=2) + "\n")


def _cached_conversion(folder: Path, sha256: str) -> bool:
    """Whether ``folder`` holds a conversion of the file with this sha256 (its record says so)."""
    try:
        record = json.loads((folder / CONVERSION_RECORD).read_text())
    except (OSError, ValueError):
        return False
    return record.get("source_sha256") == sha256 and (folder / "model.safetensors").is_file()


ARCHITECTURES = {"laion_music": laion_music_config, "tiny": tiny_clap_config}


def load_clap_model(
    spec: str = "tiny",
    cache_dir: str | Path | None = None,
    window_s: float = 10.0,
    architecture: str = "laion_music",
    sha256: str | None = None,
) -> ClapModel:
    """The CLAP model named by ``spec`` (module docstring).

    An original ``.pt`` is converted once and cached under ``cache_dir/<stem>-<sha256[:16]>/`` as
    safetensors; with ``sha256`` (``metrics.clap.sha256``) pinned, the file is verified before it is
    unpickled and a cached conversion of that hash is used without opening it. ``architecture``
    (``metrics.clap.architecture``): the ClapConfig an original checkpoint is read into, ``laion_music``
    (LAION's music checkpoint) or ``tiny`` (a small stand-in in the same format)."""
    from transformers import ClapModel

    if architecture not in ARCHITECTURES:
        raise ClapCheckpointError(f"metrics.clap.architecture={architecture!r}: use one of {', '.join(ARCHITECTURES)}")
    pin = check_sha256_pin(sha256)
    if spec == "tiny":
        return build_tiny_clap(window_s=window_s)
    if "larger_clap_music" in spec:
        raise ClapCheckpointError(
            f"metrics.clap.checkpoint={spec!r}: this hub conversion is not LAION's music checkpoint and its "
            f"embeddings are reported collapsed; use {LAION_MUSIC_CHECKPOINT!r}"
        )
    local = Path(spec)
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ClapCheckpointError(f"{local} has no config.json; expected a converted ClapModel folder")
        return ClapModel.from_pretrained(local).eval()
    if spec.endswith(".safetensors"):
        if not local.is_file():
            raise ClapCheckpointError(f"CLAP checkpoint {spec} does not exist; set metrics.clap.checkpoint")
        return load_safetensors_state_dict(local, ARCHITECTURES[architecture]())
    if not spec.endswith(".pt"):
        raise ClapCheckpointError(
            f"metrics.clap.checkpoint={spec!r} is neither 'tiny', a .pt checkpoint (local or "
            f"'<repo_id>/<file>.pt'), a .safetensors state dict, nor a converted model folder"
        )

    def cache_folder(key: str) -> Path | None:
        return Path(cache_dir) / f"{local.stem}-{key[:16]}" if cache_dir is not None else None

    key, cached = pin, (cache_folder(pin) if pin else None)
    if cached is not None and _cached_conversion(cached, pin):
        log.info("CLAP: using converted checkpoint %s of %s (sha256 %s)", cached, spec, pin)
        return ClapModel.from_pretrained(cached, use_safetensors=True).eval()
    pt_path = _resolve_pt(spec)
    if pin is None and cache_dir is not None:  # unpinned: the file's own hash names its conversion
        key = file_sha256(pt_path)
        cached = cache_folder(key)
        if _cached_conversion(cached, key):
            log.info("CLAP: using converted checkpoint %s of %s", cached, spec)
            return ClapModel.from_pretrained(cached, use_safetensors=True).eval()
    log.info("CLAP: converting %s to transformers' ClapModel", pt_path)
    model = load_laion_checkpoint(pt_path, config=ARCHITECTURES[architecture](), sha256=pin)
    if cached is not None:
        record = {
            "source": str(pt_path),
            "source_sha256": key,
            "sha256_pinned": pin is not None,
            "architecture": architecture,
        }
        _save_atomic(model, cached, record)
        log.info("CLAP: cached converted model in %s", cached)
    return model


def _resolve_pt(spec: str) -> Path:
    """The local file of a ``.pt`` spec: a path, or ``<repo_id>/<file>.pt`` from the hub (its cache)."""
    local = Path(spec)
    if local.is_file():
        return local
    if local.is_absolute() or spec.startswith(".") or len(spec.split("/")) < 3:
        raise ClapCheckpointError(
            f"CLAP checkpoint {spec} does not exist; set metrics.clap.checkpoint to a local .pt file, "
            f"'<repo_id>/<file>.pt' on the hub, or 'tiny'"
        )
    from huggingface_hub import hf_hub_download

    parts = spec.split("/")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    log.info("CLAP: downloading %s from the hub repo %s", filename, repo_id)
    try:
        return Path(hf_hub_download(repo_id, filename))
    except Exception as exc:
        raise ClapCheckpointError(f"cannot download CLAP checkpoint {filename} from {repo_id}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# embeddings


def int16_round_trip(audio: np.ndarray) -> np.ndarray:
    """The int16 quantisation LAION-CLAP and kadtk apply before embedding."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0


def split_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[n_windows, window] windows starting at 0, hop, ... < len(audio), zero-padded at the end."""
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected non-empty mono audio, got shape {audio.shape}")
    starts = range(0, audio.size, hop)
    out = np.zeros((len(starts), window), dtype=np.float32)
    for i, s in enumerate(starts):
        chunk = audio[s : s + window]
        out[i, : chunk.size] = chunk
    return out


class ClapEmbedder:
    """CLAP audio embeddings of clips: one L2-normalised row per window (module docstring)."""

    def __init__(
        self,
        model: ClapModel,
        window_s: float = 10.0,
        hop_s: float = 1.0,
        batch_size: int = 8,
        device: str | torch.device = "cpu",
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.window = int(round(window_s * SAMPLE_RATE))
        self.hop = int(round(hop_s * SAMPLE_RATE))
        if self.window <= 0 or self.hop <= 0:
            raise ValueError(f"CLAP window ({window_s} s) and hop ({hop_s} s) must be positive")
        self.batch_size = batch_size
        self.feature_extractor = clap_feature_extractor(window_s)
        self.dim = model.config.projection_dim

    def windows(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Mono 48 kHz int16-quantised windows [n_windows, window] of ``audio`` ([samples] or [ch, samples])."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=0)
        if audio.size == 0:
            raise ValueError("audio is empty")
        if not np.all(np.isfinite(audio)):
            raise ValueError("audio contains NaN or infinite samples")
        if sr != SAMPLE_RATE:
            audio = librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE)
        return split_windows(int16_round_trip(audio), self.window, self.hop)

    @torch.no_grad()
    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """[n, 512] embeddings of prepared windows [n, window]."""
        rows = []
        for i in range(0, len(windows), self.batch_size):
            batch = list(windows[i : i + self.batch_size])
            features = clap_log_mel(np.stack(batch), self.feature_extractor)
            out = self.model.get_audio_features(input_features=features.to(self.device, torch.float32))
            rows.append(out.pooler_output.float().cpu().numpy())
        return np.concatenate(rows, axis=0)

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """[n_windows, dim] embeddings of one clip."""
        return self.embed_windows(self.windows(audio, sr))

    def embed_files(self, paths: Iterable[str | Path], desc: str = "CLAP") -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of many files: ``(emb [rows, dim], item [rows])`` where ``item[r]`` is the
        index of the file row r came from (the ``groups`` of :func:`difftone.metrics.kad_bootstrap_ci`)."""
        from difftone.metrics.chroma import read_audio

        embs, items = [], []
        for i, path in enumerate(tqdm(list(paths), desc=desc, mininterval=5)):
            audio, sr = read_audio(path)
            try:
                e = self.embed(audio, sr)
            except ValueError as exc:
                raise ValueError(f"cannot embed {path}: {exc}") from None
            embs.append(e)
            items.append(np.full(len(e), i))
        if not embs:
            raise ValueError("no audio files to embed")
        return np.concatenate(embs), np.concatenate(items)


def load_clap(
    spec: str = "tiny",
    *,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    window_s: float = 10.0,
    hop_s: float = 1.0,
    batch_size: int = 8,
    architecture: str = "laion_music",
    sha256: str | None = None,
) -> ClapEmbedder:
    """A ready :class:`ClapEmbedder` for ``spec`` (``tiny``, a LAION ``.pt`` checkpoint with its pinned
    ``sha256``, a ``.safetensors`` state dict, or a converted folder)."""
    from difftone.models.hub import parameter_counts

    model = load_clap_model(spec, cache_dir, window_s, architecture, sha256)
    log.info(
        "CLAP parameters: %s", parameter_counts({"audio branch": model.audio_model, "text branch": model.text_model})
    )
    return ClapEmbedder(model, window_s=window_s, hop_s=hop_s, batch_size=batch_size, device=device)


def check_not_collapsed(emb: np.ndarray, what: str, max_median_cosine: float = 0.999, max_rows: int = 2000) -> float:
    """Raise :class:`EmbeddingCollapseError` when the rows of ``emb`` are near-identical.

    The test statistic is the median pairwise cosine similarity (over at most
    ``max_rows`` evenly spaced rows); it is returned when below the limit.
    """
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{what}: need at least 2 embeddings to check for collapse, got shape {x.shape}")
    if x.shape[0] > max_rows:
        x = x[np.linspace(0, x.shape[0] - 1, max_rows).astype(int)]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    iu = np.triu_indices(x.shape[0], k=1)
    median_cos = float(np.median((x @ x.T)[iu]))
    if median_cos > max_median_cosine:
        raise EmbeddingCollapseError(
            f"{what}: the {x.shape[0]} embeddings are near-identical (median pairwise cosine "
            f"{median_cos:.6f} > {max_median_cosine}); the CLAP model cannot tell these clips apart. "
            f"Check metrics.clap.checkpoint (LAION's {LAION_MUSIC_CHECKPOINT!r}, not laion/larger_clap_music) "
            f"and that the audio is not silent or identical."
        )
    return median_cos


def save_embeddings(path: str | Path, emb: np.ndarray, items: np.ndarray, meta: dict | None = None) -> None:
    """Write embeddings as ``.npz`` (``emb``, ``item``, ``meta`` JSON) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez adds no ".npz" to it
        np.savez(f, emb=emb.astype(np.float32), item=items, meta=np.array(json.dumps(meta or {})))


def load_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read what :func:`save_embeddings` wrote: ``(emb, item, meta)``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["emb"], z["item"], json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"cannot read embeddings file {path}: {exc}; delete it to recompute") from None
