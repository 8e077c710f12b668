"""Offline stand-ins of the paper run's real components, in their real formats (the rehearsal).

``build_standins(out)`` writes, under ``out``:

- ``hf-home/hub/``: a Hugging Face cache (its documented layout: ``models--<owner>--<name>/
  refs/main`` and ``snapshots/<commit>/``) holding, under the paper config's hub ids,
  ``stabilityai/stable-audio-open-1.0``: a diffusers-layout snapshot of the tiny SAO
  written by ``StableAudioPipeline.save_pretrained`` (:func:`difftone.models.loader.save_snapshot`);
  ``m-a-p/MERT-v1-95M`` at the paper's pinned revision: a small ``HubertModel`` and its
  ``Wav2Vec2FeatureExtractor`` (what the MERT loading code reads; MERT's own remote code
  cannot be had offline); ``lukewys/laion_clap``: ``music_audioset_epoch_15_esc_90.14.pt``,
  an original-format LAION-CLAP checkpoint (``module.``-prefixed names, ``qkv`` fused) of a
  tiny ClapModel with random weights, read back by the real mapping code;
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
- ``IRMAS-TrainingData.zip``: an IRMAS-layout zip of rendered clips (3 s, the embedded
  renderer), served to the real download rule as a ``file://`` URL;
- ``data.yaml``: ``data.irmas_url`` and ``data.irmas_md5`` of that zip.

With ``HF_HOME=<out>/hf-home HF_HUB_OFFLINE=1``, ``fetch_models`` resolves the paper's hub
ids from that cache exactly as it would from a downloaded one; see README ("Rehearse
a cluster installation").
"""

from __future__ import annotations

import hashlib
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
AUDIOLDM2_REPO = "cvssp/audioldm2"  # configs/paper.yaml's musicmagus.model
# cvssp/audioldm2's published config files, in the hub's layout (their provenance: SOURCES.md there)
AUDIOLDM2_CONFIGS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "audioldm2-configs"


def laion_original_state_dict(hf: torch.nn.Module) -> dict:
    """A ClapModel's weights under LAION-CLAP's original names (written independently of the converter)."""
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
            continue  # not in the original checkpoint
        out["module." + k] = value.clone()
    # original-only tensors that ClapModel does not hold
    out["module.audio_branch.spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    out["module.audio_branch.logmel_extractor.melW"] = torch.zeros(513, 64)
    out["module.audio_branch.layers.0.blocks.0.attn_mask"] = torch.zeros(4, 64, 64)
    out["module.audio_branch.head.weight"] = torch.zeros(527, 32)
    out["module.text_transform.sequential.0.weight"] = torch.zeros(16, 16)
    out["module.audio_transform.sequential.3.bias"] = torch.zeros(16)
    return out


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


def write_sao(snapshot: Path) -> None:
    from difftone.models import load_sao
    from difftone.models.loader import save_snapshot

    save_snapshot(load_sao("tiny"), snapshot)


def write_mert(snapshot: Path) -> None:
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    from difftone.classifiers.mert import MERT_SAMPLE_RATE, TINY_SEED, tiny_mert_config

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        HubertModel(tiny_mert_config()).save_pretrained(snapshot)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=MERT_SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(snapshot)


def write_clap(path: Path) -> None:
    from difftone.metrics.clap import build_tiny_clap

    torch.save({"state_dict": laion_original_state_dict(build_tiny_clap(seed=0))}, path)


def write_roberta_tokenizer(snapshot: Path) -> None:
    """The files of the roberta-base repository a tokenizer is read from, for the tiny stand-in."""
    from transformers import RobertaConfig

    from difftone.classifiers.judge import tiny_clap_tokenizer

    backend = tiny_clap_tokenizer().backend_tokenizer
    backend.save(str(snapshot / "tokenizer.json"))
    backend.model.save(str(snapshot))  # vocab.json, merges.txt
    RobertaConfig(vocab_size=backend.get_vocab_size(), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=40).to_json_file(snapshot / "config.json")


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
        saved = (save_tiny_snapshot(Path(tmp) / "pipeline") if size == "tiny"
                 else save_real_size_snapshot(Path(tmp) / "pipeline", configs))
        files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
        kept = list(filter_repo_objects(files, allow_patterns=list(AUDIOLDM2_PATTERNS)))
        for name in kept:
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(saved / name, snapshot / name)
    if dropped := sorted(set(files) - set(kept)):
        log.info("AudioLDM2 stand-in: %s not served (fetch_models does not download them)", ", ".join(dropped))
    return kept


def write_irmas_zip(out: Path, instruments: list[str], clips_per_instrument: int) -> Path:
    from difftone.data import render_embedded
    from difftone.data.irmas import IRMAS_FOLDER

    zip_path = out / "IRMAS-TrainingData.zip"
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        render_embedded(Path(tmp) / "render", instruments, clips_per_instrument)
        root = Path(tmp) / "render"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted((root / IRMAS_FOLDER).rglob("*.wav")):
                zf.write(f, f.relative_to(root).as_posix())
    return zip_path


def build_standins(out: str | Path, instruments: list[str] = ("pia", "vio"), clips_per_instrument: int = 8) -> Path:
    """Write every stand-in under ``out`` (module docstring); return the path of ``data.yaml``."""
    from difftone.data.irmas import md5sum

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    hf_home = out / "hf-home"
    write_sao(cache_snapshot(hf_home, SAO_REPO))
    write_mert(cache_snapshot(hf_home, MERT_REPO, MERT_REVISION))
    write_clap(cache_snapshot(hf_home, CLAP_REPO) / CLAP_FILE)
    write_roberta_tokenizer(cache_snapshot(hf_home, TOKENIZER_REPO))
    write_audioldm2(cache_snapshot(hf_home, AUDIOLDM2_REPO))
    zip_path = write_irmas_zip(out, list(instruments), clips_per_instrument)
    data = {"data": {"irmas_url": zip_path.as_uri(), "irmas_md5": md5sum(zip_path)}}
    (out / "data.yaml").write_text(yaml.safe_dump(data))
    log.info("rehearsal stand-ins in %s (HF cache %s, IRMAS zip md5 %s)", out, hf_home, data["data"]["irmas_md5"])
    return out / "data.yaml"
