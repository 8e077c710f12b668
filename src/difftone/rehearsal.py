"""Offline stand-ins of the paper run's real components, in their real formats (the rehearsal).

``build_standins(out, size=...)`` writes, under ``out`` (``size`` ``tiny``: small stand-ins, the CI rehearsal;
``real``: SAO, MERT, CLAP and AudioLDM2 at the real components' sizes, the full-size rehearsal):

- ``hf-home/hub/``: a Hugging Face cache (its documented layout: ``models--<owner>--<name>/
  refs/main`` and ``snapshots/<commit>/``) holding, under the paper config's hub ids,
  ``stabilityai/stable-audio-open-1.0``: a diffusers-layout snapshot of the tiny SAO, or at ``real`` of
  the real architecture from its published configs (:func:`build_random_sao`), written by
  ``StableAudioPipeline.save_pretrained`` (:func:`difftone.models.loader.save_snapshot`);
  ``m-a-p/MERT-v1-95M`` at the paper's pinned revision: that repository's layout with remote code
  (:func:`write_mert_snapshot`: ``config.json`` with ``auto_map``, ``configuration_MERT.py``,
  ``modeling_MERT.py``, ``preprocessor_config.json``, random weights; small, or at ``real`` MERT-v1-95M's size); ``lukewys/laion_clap``:
  ``music_audioset_epoch_15_esc_90.14.pt``, an original-format LAION-CLAP checkpoint (``module.``-prefixed
  names, ``qkv`` fused, pickle protocol 4 with numpy scalars, as LAION's file: :func:`write_clap_checkpoint`)
  of a tiny ClapModel (or, at ``real``, HTSAT-base + RoBERTa-base) with random weights, read back
  by the real mapping code after its sha256 is checked;
  ``FacebookAI/roberta-base``: the CLAP zero-shot judge's text tokenizer in that repository's
  format (``config.json``, ``tokenizer.json``, ``vocab.json``, ``merges.txt``): a byte-level BPE
  with RoBERTa's special tokens whose ids fit the tiny CLAP's text vocabulary
  (:func:`difftone.classifiers.judge.tiny_clap_tokenizer`);
  ``cvssp/audioldm2`` (MusicMagus' backbone, Table III): a diffusers-layout snapshot of the tiny
  AudioLDM2 (:func:`difftone.models.audioldm2.build_tiny_audioldm2`'s weights, RoBERTa BPE and T5
  Unigram tokenizers) written by ``AudioLDM2Pipeline.save_pretrained``
  (:func:`difftone.models.audioldm2.save_tiny_snapshot`) with the hub's ``model_index.json`` class
  names (the language model a ``GPT2Model``) and its CLAP config's ``torch_dtype: float64``
  (``write_audioldm2(..., size="real")`` writes it at the real size instead), holding only the files ``fetch_models``
  downloads of that repository (``difftone.models.fetch.AUDIOLDM2_PATTERNS``), so a file the
  loader needs and the patterns miss fails the rehearsal as it would fail the paper run;
- ``IRMAS-TrainingData.zip``: the real archive's layout and file naming (:func:`write_irmas_zip`) with
  rendered clips (3 s, the embedded renderer), served to the real download rule as a ``file://`` URL with
  its md5;
- ``data.yaml``: ``data.irmas_url`` and ``data.irmas_md5`` of that zip, and ``metrics.clap.sha256``
  of the CLAP stand-in (in place of the real file's pin in configs/paper.yaml).

With ``HF_HOME=<out>/hf-home HF_HUB_OFFLINE=1``, ``fetch_models`` resolves the paper's hub
ids from that cache exactly as it would from a downloaded one; see docs/cluster.md ("Rehearse
a cluster installation").
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
import yaml

log = logging.getLogger(__name__)

SAO_REPO = "stabilityai/stable-audio-open-1.0"
MERT_REPO = "m-a-p/MERT-v1-95M"
MERT_REVISION = "12af15fef9d0ac838c3f475bfbbf26d2060dd4f5"  # configs/paper.yaml's pin
CLAP_REPO = "lukewys/laion_clap"
CLAP_FILE = "music_audioset_epoch_15_esc_90.14.pt"
TOKENIZER_REPO = "FacebookAI/roberta-base"  # configs/paper.yaml's judge.tokenizer
SIZES = ("tiny", "real")  # build_standins' size: small stand-ins (minutes on CPU) or the real components' sizes


def _check_size(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"stand-in size {size!r}: use one of {', '.join(SIZES)}")


AUDIOLDM2_REPO = "cvssp/audioldm2"  # configs/paper.yaml's musicmagus.model
# cvssp/audioldm2's published config files, in the hub's layout (their provenance: SOURCES.md there)
AUDIOLDM2_CONFIGS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "audioldm2-configs"


def laion_original_state_dict(hf: torch.nn.Module) -> dict:
    """A ClapModel's weights under LAION-CLAP's original names, ``module.``-prefixed as LAION's DDP training
    saved them, plus the original-only tensors (:func:`laion_original_only_tensors`). Written independently
    of the converter in :mod:`difftone.metrics.clap`."""
    out = {}
    state = hf.state_dict()
    for key, value in state.items():
        k = key.replace("text_model.", "text_branch.").replace("audio_model.audio_encoder.", "audio_branch.")
        k = k.replace("_projection.linear1.", "_projection.0.").replace("_projection.linear2.", "_projection.2.")
        if k.startswith("audio_branch."):
            k = k.replace("batch_norm", "bn0").replace("layernorm_before", "norm1").replace("layernorm_after", "norm2")
            k = k.replace("attention.output.dense", "attn.proj").replace("intermediate.dense", "mlp.fc1")
            k = k.replace(".output.dense", ".mlp.fc2").replace("attention.self.", "attn.")
            if ".attn.query." in k:
                kind = k.rsplit(".", 1)[1]
                base = key.rsplit(".", 2)[0]
                out["module." + k.replace(".attn.query.", ".attn.qkv.")] = torch.cat(
                    [state[f"{base}.{n}.{kind}"] for n in ("query", "key", "value")]
                )
                continue
            if ".attn.key." in k or ".attn.value." in k:
                continue
        if k.endswith("token_type_ids"):
            continue  # a non-persistent buffer in the transformers LAION trained with: not in the file
        out["module." + k] = value.clone()
    out.update({"module." + k: v for k, v in laion_original_only_tensors(hf.config).items()})
    return out


def laion_original_only_tensors(config) -> dict[str, torch.Tensor]:
    """The tensors of an original LAION-CLAP checkpoint that ClapModel does not hold, with the shapes
    LAION-AI/CLAP's model code gives them for ``config`` (a ClapConfig; zeros: the loader drops them).

    HTSAT (``clap_module/htsat.py``): torchlibrosa's STFT kernels ``conv_real``/``conv_imag``
    [n_fft/2+1, 1, n_fft] and mel bank ``melW`` [n_fft/2+1, mels]; each shifted Swin block's
    ``attn_mask`` buffer [windows, ws^2, ws^2] (odd blocks of a layer wider than its window); the
    AudioSet heads ``tscam_conv`` [classes, hidden, SF, 3] with SF = spec / 2^(layers-1) / stride /
    (spec / mels) and ``head`` [classes, classes]. The CLAP wrapper (``clap_module/model.py``):
    ``text_transform``/``audio_transform``, MLPLayers([d, d, d]) whose Linear layers sit at
    ``sequential.0`` and ``sequential.3``."""
    audio, dim = config.audio_config, config.projection_dim
    n_fft, bins = 1024, 513  # HTSAT-base audio_cfg window_size (ClapFeatureExtractor's fft_window_size)
    stride = audio.patch_stride[0] if isinstance(audio.patch_stride, (list, tuple)) else audio.patch_stride
    ws, grid = audio.window_size, audio.spec_size // stride
    out = {
        "audio_branch.spectrogram_extractor.stft.conv_real.weight": torch.zeros(bins, 1, n_fft),
        "audio_branch.spectrogram_extractor.stft.conv_imag.weight": torch.zeros(bins, 1, n_fft),
        "audio_branch.logmel_extractor.melW": torch.zeros(bins, audio.num_mel_bins),
    }
    for i, depth in enumerate(audio.depths):
        side = grid // 2**i
        if side <= ws:  # the block's window is the whole map: no shift, no mask
            continue
        for block in range(1, depth, 2):
            out[f"audio_branch.layers.{i}.blocks.{block}.attn_mask"] = torch.zeros((side // ws) ** 2, ws * ws, ws * ws)
    classes = audio.num_classes
    sf = audio.spec_size // 2 ** (len(audio.depths) - 1) // stride // (audio.spec_size // audio.num_mel_bins)
    out["audio_branch.tscam_conv.weight"] = torch.zeros(classes, audio.hidden_size, sf, 3)
    out["audio_branch.tscam_conv.bias"] = torch.zeros(classes)
    out["audio_branch.head.weight"] = torch.zeros(classes, classes)
    out["audio_branch.head.bias"] = torch.zeros(classes)
    for branch in ("text", "audio"):
        for n in (0, 3):
            out[f"{branch}_transform.sequential.{n}.weight"] = torch.zeros(dim, dim)
            out[f"{branch}_transform.sequential.{n}.bias"] = torch.zeros(dim)
    return out


def write_clap_checkpoint(path: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """An original-format LAION-CLAP checkpoint with random weights, saved as LAION's files are reported
    to be: a torch pickle of ``{epoch, name, state_dict, optimizer}`` with ``module.`` keys, pickle protocol 4,
    and numpy scalars among the optimizer's entries (LAION's cosine schedule writes numpy float64 learning
    rates), so torch's weights-only loader refuses it as it refuses the real file.

    ``size``: ``tiny`` (the seeded tiny ClapModel of ``metrics.clap.checkpoint: tiny``) or ``real``
    (HTSAT-base + RoBERTa-base, ``laion_music_config``: the real file's 505 tensors, names and shapes;
    0.8 GB: the real file's Adam moments, 1.5 GB more, are left out)."""
    import numpy as np
    from transformers import ClapModel

    from difftone.metrics.clap import build_tiny_clap, laion_music_config

    _check_size(size)
    if size == "tiny":
        model = build_tiny_clap(seed=seed)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ClapModel(laion_music_config()).eval()
    state_dict = laion_original_state_dict(model)
    del model
    lr = np.float64(1e-4) * np.cos(np.float64(0.0))  # numpy scalars, as a numpy-computed schedule leaves them
    param_group = {
        "lr": lr,
        "initial_lr": np.float64(1e-4),
        "betas": (0.9, 0.99),
        "eps": np.float64(1e-9),
        "weight_decay": 0.0,
        "amsgrad": False,
        "params": list(range(len(state_dict))),
    }
    checkpoint = {
        "epoch": 15,
        "name": "music_audioset_epoch_15_esc_90.14 (difftone stand-in, random weights)",
        "state_dict": state_dict,
        "optimizer": {"state": {}, "param_groups": [param_group]},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path, pickle_protocol=4)
    return path


def cache_snapshot(hf_home: Path, repo_id: str, revision: str | None = None) -> Path:
    """An empty snapshot folder of ``repo_id`` in the HF cache under ``hf_home`` (refs/main points to it)."""
    commit = revision or hashlib.sha1(f"difftone rehearsal {repo_id}".encode()).hexdigest()
    repo = Path(hf_home) / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    if snapshot.exists():
        shutil.rmtree(snapshot)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


# the diffusers configs of stabilityai/stable-audio-open-1.0 as published (their provenance: SOURCES.md there)
SAO_CONFIGS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "stable-audio-open-1.0-configs"


def build_random_sao(out_dir: str | Path, configs: str | Path = SAO_CONFIGS, seed: int = 0) -> Path:
    """Stable Audio Open 1.0 at its real size (DiT 1.06 B, Oobleck VAE, T5-base encoder, projection) from its
    published diffusers configs in ``configs``, seeded random weights stored float16, written by
    ``StableAudioPipeline.save_pretrained`` in the hub layout; returns ``out_dir``.

    Built on the CPU: each part is created in float16 (``torch.set_default_dtype``), so the peak is one copy of
    the weights (about 2.7 GB). Every published JSON file (``model_index.json``, the configs, the tokenizer's
    ``tokenizer_config.json`` and ``special_tokens_map.json``) replaces the one ``save_pretrained`` wrote, so the
    loaders read the real files. The tokenizer's ``tokenizer.json`` (the real ``spiece.model`` is only in the
    gated repository) is :func:`difftone.models.audioldm2.real_size_t5_tokenizer`'s: a T5 Unigram with t5-base's
    id layout (32100 ids, ``<extra_id_99>``..``<extra_id_0>`` at 32000..32099), which the published
    ``tokenizer_config.json`` (its ``added_tokens_decoder`` names those ids) fits unchanged."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    from difftone.models.audioldm2 import real_size_t5_tokenizer
    from difftone.models.loader import save_snapshot
    from difftone.models.sao import SAOBackbone

    configs = Path(configs)
    if not (configs / "model_index.json").is_file():
        raise FileNotFoundError(
            f"{configs} has no model_index.json: the published Stable Audio Open configs "
            "(tests/fixtures/stable-audio-open-1.0-configs in a checkout of difftone) are needed"
        )

    def cfg(name, file="config.json"):
        return json.loads((configs / name / file).read_text())

    default = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float16)
        try:
            parts = {
                "transformer": StableAudioDiTModel.from_config(cfg("transformer")),
                "vae": AutoencoderOobleck.from_config(cfg("vae")),
                "text_encoder": T5EncoderModel(T5Config.from_dict(cfg("text_encoder"))),
                "projection_model": StableAudioProjectionModel.from_config(cfg("projection_model")),
            }
        finally:
            torch.set_default_dtype(default)
    parts = {k: v.half() for k, v in parts.items()}  # buffers made outside the default dtype too
    parts["tokenizer"] = real_size_t5_tokenizer()  # t5-base's id layout, as flan-t5-large's
    parts["scheduler"] = CosineDPMSolverMultistepScheduler.from_config(cfg("scheduler", "scheduler_config.json"))
    out = save_snapshot(SAOBackbone(**parts), out_dir)
    for published in configs.rglob("*.json"):  # the published files, not what this diffusers/transformers writes
        shutil.copy2(published, out / published.relative_to(configs))
    return out


def write_sao(snapshot: Path, size: str = "tiny") -> None:
    """The SAO stand-in: the tiny components (``tiny``) or :func:`build_random_sao` (``real``)."""
    from difftone.models import load_sao
    from difftone.models.loader import save_snapshot

    _check_size(size)
    if size == "real":
        build_random_sao(snapshot)
    else:
        save_snapshot(load_sao("tiny"), snapshot)


# The MERT stand-in's remote code and published configs (difftone's own code with MERT-v1-95M's structure)
MERT_REMOTE_CODE = ("configuration_MERT.py", "modeling_MERT.py")
MERT_SIZES = {
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "conv_dim": [32] * 7,
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 4,
    },
    "real": {},  # MERT-v1-95M's config.json as published: 768 wide, 12 layers, conv front end 512 x 7
}


def write_mert_snapshot(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """A folder laid out like the ``m-a-p/MERT-v1-95M`` repository, with random weights; returns it.

    Its ``config.json`` (``model_type`` ``mert_model``, ``auto_map`` to the remote code) and
    ``preprocessor_config.json`` are MERT-v1-95M's, at ``size`` ``real`` unchanged and at
    ``tiny`` narrowed to 64 wide and 4 layers (:data:`MERT_SIZES`). The model is built
    through ``trust_remote_code`` from ``configuration_MERT.py`` / ``modeling_MERT.py``
    (``difftone/resources/mert_remote``: a ``HubertModel`` subclass whose ``forward``
    calls the encoder itself, as MERT's does) and saved with ``save_pretrained``.
    """
    from importlib import resources

    from transformers import AutoConfig, AutoModel

    if size not in MERT_SIZES:
        raise ValueError(f"MERT stand-in size {size!r} is not one of {', '.join(MERT_SIZES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remote = resources.files("difftone") / "resources" / "mert_remote"
    for name in (*MERT_REMOTE_CODE, "preprocessor_config.json"):
        (out / name).write_bytes((remote / name).read_bytes())
    config = json.loads((remote / "config.json").read_text()) | MERT_SIZES[size]
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(AutoConfig.from_pretrained(out, trust_remote_code=True), trust_remote_code=True)
    model.save_pretrained(out)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")  # the published file, not transformers'
    return out


def write_mert(snapshot: Path, size: str = "tiny") -> None:
    write_mert_snapshot(snapshot, size)


def write_roberta_tokenizer(snapshot: Path) -> None:
    """The files of the roberta-base repository a tokenizer is read from, for the tiny stand-in."""
    from transformers import RobertaConfig

    from difftone.classifiers.judge import tiny_clap_tokenizer

    backend = tiny_clap_tokenizer().backend_tokenizer
    backend.save(str(snapshot / "tokenizer.json"))
    backend.model.save(str(snapshot))  # vocab.json, merges.txt
    RobertaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
    ).to_json_file(snapshot / "config.json")


def write_audioldm2(snapshot: Path, size: str = "tiny", configs: Path = AUDIOLDM2_CONFIGS) -> list[str]:
    """An AudioLDM2 snapshot in cvssp/audioldm2's layout (``model_index.json`` naming ``GPT2Model``, the CLAP
    config's ``torch_dtype: float64``), only the files fetch_models downloads of it (module docstring); returns them.

    ``size`` ``tiny``: :func:`difftone.models.audioldm2.save_tiny_snapshot`; ``real``: the hub's published configs
    (``configs``) with random weights, 1.118 B parameters, about 4.5 GB on disk
    (:func:`difftone.models.audioldm2.save_real_size_snapshot`)."""
    from huggingface_hub.utils import filter_repo_objects

    from difftone.models.audioldm2 import save_real_size_snapshot, save_tiny_snapshot
    from difftone.models.fetch import AUDIOLDM2_PATTERNS

    if size not in ("tiny", "real"):
        raise ValueError(f"AudioLDM2 stand-in size {size!r}: use tiny or real")
    snapshot = Path(snapshot)
    snapshot.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=snapshot.parent) as tmp:
        saved = (
            save_tiny_snapshot(Path(tmp) / "pipeline")
            if size == "tiny"
            else save_real_size_snapshot(Path(tmp) / "pipeline", configs)
        )
        files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
        kept = list(filter_repo_objects(files, allow_patterns=list(AUDIOLDM2_PATTERNS)))
        for name in kept:
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(saved / name, snapshot / name)
    if dropped := sorted(set(files) - set(kept)):
        log.info("AudioLDM2 stand-in: %s not served (fetch_models does not download them)", ", ".join(dropped))
    return kept


EXCERPTS_PER_RECORDING = 2  # IRMAS cuts several 3 s excerpts __K from one recording NNNN


def irmas_standin_name(code: str, index: int) -> str:
    """The archive name of the stand-in's clip ``index`` of ``code``, in the real archive's pattern
    (:mod:`difftone.data.irmas`): clips are dealt to recordings ``NNNN`` as excerpts ``__1``, ``__2``; the
    recordings cycle through the drum tags (none, ``[nod]``, ``[dru]``) and the genres, and every fourth one
    carries the numeric prefix some real names have (``008__[cel][nod][cla]0058__1.wav``)."""
    from difftone.data.irmas import DRUM_TAGS, GENRES, format_name

    recording, excerpt = divmod(index, EXCERPTS_PER_RECORDING)
    drums = (None, *DRUM_TAGS)[recording % 3]
    name = format_name(code, GENRES[recording % len(GENRES)], recording + 1, excerpt + 1, drums=drums)
    return f"{recording:03d}__{name}" if recording % 4 == 3 else name


def write_irmas_zip(out: Path, instruments: list[str], clips_per_instrument: int) -> Path:
    """``IRMAS-TrainingData.zip`` laid out as the real archive: one top folder ``IRMAS-TrainingData/`` with a
    folder per IRMAS class (all 11, voice included; its directory entries too), clip names from
    :func:`irmas_standin_name`. The rehearsed ``instruments`` hold their rendered clips (3 s, 44.1 kHz stereo
    16-bit, as IRMAS); every other class one clip (a rendered clip's audio), which the scan must leave out."""
    from difftone.data import render_embedded
    from difftone.data.irmas import IRMAS_FOLDER
    from difftone.instruments import INSTRUMENTS

    zip_path = out / "IRMAS-TrainingData.zip"
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        render_embedded(Path(tmp) / "render", instruments, clips_per_instrument)
        root = Path(tmp) / "render" / IRMAS_FOLDER
        rendered = {code: sorted((root / code).glob("*.wav")) for code in instruments}
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{IRMAS_FOLDER}/", "")
            for code in INSTRUMENTS:
                zf.writestr(f"{IRMAS_FOLDER}/{code}/", "")
                clips = rendered.get(code) or rendered[instruments[0]][:1]
                for i, clip in enumerate(clips):
                    zf.write(clip, f"{IRMAS_FOLDER}/{code}/{irmas_standin_name(code, i)}")
    return zip_path


def build_standins(
    out: str | Path, instruments: list[str] = ("pia", "vio"), clips_per_instrument: int = 8, size: str = "tiny"
) -> Path:
    """Write every stand-in under ``out`` (module docstring); return the path of ``data.yaml``.

    ``size``: ``tiny`` (configs/rehearsal.yaml) or ``real`` (configs/rehearsal-fullsize.yaml on top): SAO
    (:func:`build_random_sao`), MERT-v1-95M, the LAION-CLAP music checkpoint and AudioLDM2 at their real sizes."""
    from difftone.data.irmas import md5sum
    from difftone.metrics.clap import file_sha256

    _check_size(size)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    hf_home = out / "hf-home"
    write_sao(cache_snapshot(hf_home, SAO_REPO), size)
    write_mert(cache_snapshot(hf_home, MERT_REPO, MERT_REVISION), size)
    clap = write_clap_checkpoint(cache_snapshot(hf_home, CLAP_REPO) / CLAP_FILE, size)
    write_roberta_tokenizer(cache_snapshot(hf_home, TOKENIZER_REPO))
    write_audioldm2(cache_snapshot(hf_home, AUDIOLDM2_REPO), size)
    zip_path = write_irmas_zip(out, list(instruments), clips_per_instrument)
    data = {
        "data": {"irmas_url": zip_path.as_uri(), "irmas_md5": md5sum(zip_path)},
        "metrics": {"clap": {"sha256": file_sha256(clap)}},
    }  # the pin configs/paper.yaml sets for LAION's file
    (out / "data.yaml").write_text(yaml.safe_dump(data))
    log.info(
        "rehearsal stand-ins in %s (HF cache %s, IRMAS zip md5 %s, CLAP sha256 %s)",
        out,
        hf_home,
        data["data"]["irmas_md5"],
        data["metrics"]["clap"]["sha256"],
    )
    return out / "data.yaml"
