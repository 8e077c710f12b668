"""The rehearsal: the whole DAG of `--configfile configs/paper.yaml`, with every real component
replaced by a small offline stand-in of the same format (configs/rehearsal.yaml and
difftone.rehearsal.build_standins), on CPU with 2 steps.

fetch_models resolves the paper's hub ids (SAO, MERT at its pinned revision, the LAION-CLAP
file, the judge's RoBERTa tokenizer, MusicMagus' AudioLDM2) from a Hugging Face cache with the hub switched off; the
IRMAS zip goes through the real download (file:// URL, md5) and extraction rules. Checked: the output contract, that
no demo-model rule ran, and that every job loaded its models from the fetched-models folder.
The fast tests check the AudioLDM2 stand-in alone (fetched from the cache and loaded back with its weights) and the
MERT stand-in alone (fetched at the pinned revision with its remote code, loaded through it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from difftone.rehearsal import (
    AUDIOLDM2_CONFIGS,
    AUDIOLDM2_REPO,
    MERT_REPO,
    MERT_REVISION,
    build_standins,
    cache_snapshot,
    write_audioldm2,
    write_mert,
)

REPO = Path(__file__).resolve().parents[1]
CONTRACT = [
    "results/data/index.csv",
    "results/tables/table1_classifiers.csv",
    "results/tables/table2_strategies.csv",
    "results/tables/per_pair.csv",
    "results/tables/table3_musicmagus.csv",
    "results/tables/sweep.csv",
    "results/figures/sweep.png",
    "results/figures/swap_steps.png",
    "results/report/index.html",
]
# rule log (glob under logs/) -> the fetched model folder its job must have loaded from
MODEL_LOGS = {
    "features/encode_sao_latents.log": ["resources/models/sao"],
    "sources/[a-z][a-z][a-z].log": ["resources/models/sao"],  # generate_sources (not split_sources, generated_set)
    "edits/*/[a-z][a-z][a-z].log": ["resources/models/sao"],  # edit_pairs (not gather_edits)
    "sweep/sweep_swap_steps.log": ["resources/models/sao", "resources/models/mert"],
    "edits/edit_swap_steps.log": ["resources/models/sao"],  # Figure 2's edits (plot_swap_steps only draws)
    "classifiers/table1_classifiers.log": [
        "resources/models/sao",
        "resources/models/mert",
        "resources/models/clap_tokenizer",
    ],
    "features/extract_teacher_features.log": ["resources/models/mert"],
    "metrics/embed_references.log": ["resources/models/clap/music_audioset_epoch_15_esc_90.14.pt"],
    "metrics/difftone.log": [
        "resources/models/mert",
        "resources/models/clap/music_audioset_epoch_15_esc_90.14.pt",
        "resources/models/clap_tokenizer",
    ],
    "edits/musicmagus.log": ["resources/models/audioldm2"],  # edit_musicmagus: Table III on the paper's backbone
}


def test_audioldm2_stand_in_is_fetched_from_the_cache_and_loads_with_its_weights(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from difftone.models import load_backbone
    from difftone.models.audioldm2 import AudioLDM2Backbone, build_tiny_audioldm2, snapshot_tokenizers
    from difftone.models.fetch import fetch_model, hub_models

    hf_home = tmp_path / "hf-home"
    served = write_audioldm2(cache_snapshot(hf_home, AUDIOLDM2_REPO))  # what build_standins writes for it
    assert {
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
        "language_model/model.safetensors",
        "tokenizer/tokenizer.json",
        "tokenizer_2/tokenizer.json",
        "scheduler/scheduler_config.json",
    } <= set(served)
    snapshot = next((hf_home / "hub" / "models--cvssp--audioldm2" / "snapshots").iterdir())
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == served
    # the hub's layout: its index's class names (the language model a GPT2Model), its CLAP config's float64
    index, hub_index = (json.loads((d / "model_index.json").read_text()) for d in (snapshot, AUDIOLDM2_CONFIGS))
    assert {k: v for k, v in index.items() if not k.startswith("_")} == {
        k: v for k, v in hub_index.items() if not k.startswith("_")
    }
    assert json.loads((snapshot / "text_encoder" / "config.json").read_text())["torch_dtype"] == "float64"
    # fetch_models' download of configs/paper.yaml's musicmagus.model, with the hub switched off
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = hub_models(yaml.safe_load((REPO / "configs/paper.yaml").read_text()))["audioldm2"]
    folder = fetch_model(model, tmp_path / "resources" / "models")
    assert folder.name == "audioldm2" and (folder / "FETCHED.json").is_file()

    backbone = load_backbone(str(folder))
    assert isinstance(backbone, AudioLDM2Backbone)
    reference = build_tiny_audioldm2(seed=0)
    for name in ("unet", "language_model"):
        a, b = reference[name].state_dict(), getattr(backbone.pipeline, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert backbone.pipeline.language_model.config.max_new_tokens == 8  # where the pipeline reads it
    tokenizer, tokenizer_2 = snapshot_tokenizers(reference["text_encoder_2"].config.vocab_size)
    prompt = "a soft piano melody, with violin"
    assert backbone.pipeline.tokenizer(prompt).input_ids == tokenizer(prompt).input_ids
    assert backbone.pipeline.tokenizer_2(prompt).input_ids == tokenizer_2(prompt).input_ids
    assert tokenizer_2.unk_token_id not in tokenizer_2(prompt).input_ids  # the tiny words are whole pieces
    assert backbone.max_duration >= 10.0  # configs/paper.yaml's model.duration fits its window
    cond = backbone.encode_prompts([prompt], 10.0)  # the pipeline's encode_prompt on the reloaded parts
    assert torch.isfinite(cond.text).all() and cond.generated.shape[1] == 8


def test_mert_stand_in_is_fetched_with_its_remote_code_and_loads_through_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from difftone.classifiers.teacher_features import load_teacher_features
    from difftone.models.fetch import fetch_model, hub_models

    hf_home = tmp_path / "hf-home"
    write_mert(cache_snapshot(hf_home, MERT_REPO, MERT_REVISION))  # what build_standins writes for it
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    paper = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    model = hub_models(paper)["mert"]
    assert (model.repo_id, model.revision) == (MERT_REPO, MERT_REVISION)
    folder = fetch_model(model, tmp_path / "resources" / "models")
    assert {
        "config.json",
        "configuration_MERT.py",
        "modeling_MERT.py",
        "preprocessor_config.json",
        "model.safetensors",
    } <= {p.name for p in folder.iterdir()}

    feats = paper["teacher_features"]
    mert = load_teacher_features(
        "mert", str(folder), feats.get("revision"), feats.get("sample_rate"), feats.get("layers"), "cpu"
    )
    assert type(mert.model).__name__ == "MERTModel" and type(mert.model).__module__.startswith("transformers_modules")
    wave = torch.randn(2, 44100).numpy() * 0.1  # 1 s stereo at 44.1 kHz
    assert mert.hidden_states(wave, 44100).shape == (1, mert.num_layers, 74, mert.hidden_size)


def test_real_size_audioldm2_builds_the_hub_configs_at_their_published_sizes():
    """write_audioldm2(size="real")'s components, built on the meta device (no memory): each config of
    tests/fixtures/audioldm2-configs gives the published parameter count (SOURCES.md there), 1.118 B in all."""
    from difftone.models.audioldm2 import _real_size_builders

    published = {
        "unet": 346.9,
        "vae": 55.4,
        "text_encoder": 193.9,
        "text_encoder_2": 341.2,
        "projection_model": 1.2,
        "language_model": 124.4,
        "vocoder": 55.3,
    }
    counts = {}
    for name, build in _real_size_builders().items():
        with torch.device("meta"):
            model = build(json.loads((AUDIOLDM2_CONFIGS / name / "config.json").read_text()))
        counts[name] = sum(p.numel() for p in model.parameters())
    assert {name: round(n / 1e6, 1) for name, n in counts.items()} == published
    assert round(sum(counts.values()) / 1e9, 3) == 1.118


def test_real_size_t5_tokenizer_reads_back_with_the_hubs_tokenizer_files(tmp_path):
    """tokenizer_2 as the real-size snapshot writes it: the offline Unigram saved, then cvssp/audioldm2's own
    tokenizer_config.json and special_tokens_map.json over it; T5's id layout (32100 ids, sentinels at the end)."""
    import shutil

    from transformers import T5TokenizerFast

    from difftone.models.audioldm2 import real_size_t5_tokenizer

    built = real_size_t5_tokenizer()
    built.save_pretrained(tmp_path)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(AUDIOLDM2_CONFIGS / "tokenizer_2" / name, tmp_path / name)
    tok = T5TokenizerFast.from_pretrained(tmp_path)
    assert len(tok) == 32100 and tok.model_max_length == 512
    assert tok.convert_tokens_to_ids(["<extra_id_99>", "<extra_id_0>"]) == [32000, 32099]
    ids = tok("A soft piano melody, 120 BPM.").input_ids
    assert ids == built("A soft piano melody, 120 BPM.").input_ids
    assert ids[-1] == tok.eos_token_id == 1 and tok.unk_token_id not in ids


def test_audioldm2_stand_in_size_is_checked(tmp_path):
    with pytest.raises(ValueError, match="size 'huge': use tiny or real"):
        write_audioldm2(tmp_path / "snapshot", size="huge")


def run_rehearsal(standins: Path, workdir: Path, configs: list[str], extra: list[str] = (), timeout: float = 1500):
    """Snakemake on the paper DAG with ``configs`` layered after configs/paper.yaml and the stand-ins' data.yaml,
    the HF cache of ``standins`` with the hub switched off (docs/cluster.md's command)."""
    hf_home = standins / "hf-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_CACHE=str(hf_home / "hub"), HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        *extra,
        "--workflow-profile",
        "none",
        "--configfile",
        str(REPO / "config.yaml"),
        str(REPO / "configs/paper.yaml"),
        *(str(REPO / c) for c in configs),
        str(standins / "data.yaml"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return proc


def check_contract(workdir: Path, proc, strategies: list[str]) -> None:
    """The output contract, the real data rules, no demo model, every model fetched, Table III on AudioLDM2, and
    every model job loading from the fetched-models folder (MODEL_LOGS)."""
    missing = [p for p in CONTRACT if not (workdir / p).is_file()]
    assert not missing, missing
    for strategy in strategies:
        for pair in ("pia_to_vio", "vio_to_pia"):
            assert (workdir / "results/edits" / strategy / pair / "swaps.csv").is_file()
        assert (workdir / "results/edits" / strategy / "nfe.json").is_file()
    # the real download and extraction rules ran on the stand-in zip; no demo model was trained
    assert (workdir / "resources/IRMAS-TrainingData.zip").is_file()
    assert (workdir / "logs/data/extract_irmas.log").is_file()
    assert not (workdir / "results/demo").exists() and not (workdir / "logs/demo").exists()
    assert "train_demo_model" not in proc.stderr
    for name in ("sao", "mert", "clap", "clap_tokenizer", "audioldm2"):
        assert (workdir / "resources/models" / name / "FETCHED.json").is_file(), name
    # Table III: MusicMagus ran on the fetched AudioLDM2 stand-in (configs/paper.yaml's musicmagus.model)
    nfe = json.loads((workdir / "results/edits/musicmagus/nfe.json").read_text())
    assert nfe["model"] == "resources/models/audioldm2" and nfe["edits"] == 2, nfe
    table3 = pd.read_csv(workdir / "results/tables/table3_musicmagus.csv")
    assert {"musicmagus", "difftone"} <= set(table3["method"]), table3
    logs = workdir / "logs"
    for pattern, folders in MODEL_LOGS.items():
        found = sorted(logs.glob(pattern))
        assert found, f"no log {pattern}"
        for log in found:
            text = log.read_text()
            for folder in folders:
                assert folder in text, f"{log.relative_to(workdir)} did not load from {folder}"
            assert "loaded stabilityai/" not in text and "loaded MERT m-a-p/" not in text
            assert "loaded AudioLDM2 cvssp/" not in text


@pytest.mark.slow
def test_rehearsal_runs_the_paper_dag_on_stand_ins(tmp_path):
    build_standins(tmp_path / "standins")
    workdir = tmp_path / "wd"
    proc = run_rehearsal(tmp_path / "standins", workdir, ["configs/rehearsal.yaml"])
    check_contract(workdir, proc, ["difftone", "agree"])


# the line each real-size component's loader writes into a job's log (a tiny stand-in's counts differ)
SAO_REAL = "SAO parameters: DiT 1.06 B, VAE 156.1 M, text encoder 109.6 M"
MERT_REAL = "13 hidden states of 768"  # MERT-v1-95M (the tiny stand-in: 5 of 64)
CLAP_REAL = "CLAP parameters: audio branch 67.8 M, text branch 124.6 M"  # HTSAT-base, RoBERTa-base
AUDIOLDM2_REAL = (
    "AudioLDM2 parameters: unet 346.9 M, vae 55.4 M, text_encoder 193.9 M, text_encoder_2 341.2 M, "
    "language_model 124.4 M"
)  # cvssp/audioldm2's published counts
FULLSIZE_LOGS = {
    "features/encode_sao_latents.log": [SAO_REAL],
    "sources/[a-z][a-z][a-z].log": [SAO_REAL],
    "edits/*/[a-z][a-z][a-z].log": [SAO_REAL],
    "sweep/sweep_swap_steps.log": [SAO_REAL, MERT_REAL],
    "edits/edit_swap_steps.log": [SAO_REAL],
    "classifiers/table1_classifiers.log": [SAO_REAL, MERT_REAL, CLAP_REAL],
    "features/extract_teacher_features.log": [MERT_REAL],
    "metrics/embed_references.log": [CLAP_REAL],
    "metrics/difftone.log": [MERT_REAL, CLAP_REAL],
    "edits/musicmagus.log": [AUDIOLDM2_REAL],
}


@pytest.mark.fullsize
def test_full_size_rehearsal_runs_the_paper_dag_on_real_size_stand_ins(tmp_path):
    """configs/rehearsal-fullsize.yaml on build_standins(size="real") (docs/cluster.md: its time and memory):
    the output contract as above, and every model job's log names the real-size component it loaded.
    DIFFTONE_FULLSIZE_DIR keeps the stand-ins and the run there (to read the logs after)."""
    root = Path(os.environ.get("DIFFTONE_FULLSIZE_DIR") or tmp_path)
    start = time.perf_counter()
    build_standins(root / "standins", size="real")
    built = time.perf_counter() - start
    workdir = root / "wd"
    proc = run_rehearsal(
        root / "standins",
        workdir,
        ["configs/rehearsal.yaml", "configs/rehearsal-fullsize.yaml"],
        ["--resources", "mem_mb=18000"],
        timeout=4 * 3600,
    )
    print(f"full-size rehearsal: stand-ins built in {built:.0f} s, DAG in {time.perf_counter() - start - built:.0f} s")
    check_contract(workdir, proc, ["difftone", "agree"])
    for pattern, lines in FULLSIZE_LOGS.items():
        for log in sorted((workdir / "logs").glob(pattern)):
            text = log.read_text()
            for line in lines:
                assert line in text, f"{log.relative_to(workdir)}: no {line!r} (a tiny component was loaded?)"


def test_clap_stand_in_is_fetched_and_opens_only_with_its_own_pinned_hash(tmp_path, monkeypatch):
    """The CLAP stand-in (LAION's file format: protocol 4, numpy scalars) fetched as configs/paper.yaml names it:
    the paper's pin of LAION's real file refuses it before unpickling; the stand-in's own pin (data.yaml) opens it."""
    from huggingface_hub import constants

    from difftone.metrics.clap import LAION_MUSIC_SHA256, ClapCheckpointError, file_sha256, load_clap_model
    from difftone.models.fetch import fetch_model, hub_models
    from difftone.rehearsal import CLAP_FILE, CLAP_REPO, write_clap_checkpoint

    hf_home = tmp_path / "hf-home"
    standin = write_clap_checkpoint(cache_snapshot(hf_home, CLAP_REPO) / CLAP_FILE)  # what build_standins writes
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    paper = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    assert paper["metrics"]["clap"]["sha256"] == LAION_MUSIC_SHA256
    fetched = fetch_model(hub_models(paper)["clap"], tmp_path / "resources" / "models") / CLAP_FILE
    architecture = yaml.safe_load((REPO / "configs/rehearsal.yaml").read_text())["metrics"]["clap"]["architecture"]
    cache = tmp_path / "resources" / "clap"
    with pytest.raises(ClapCheckpointError, match=LAION_MUSIC_SHA256):
        load_clap_model(str(fetched), cache, architecture=architecture, sha256=paper["metrics"]["clap"]["sha256"])
    assert not cache.exists()
    model = load_clap_model(str(fetched), cache, architecture=architecture, sha256=file_sha256(standin))
    assert model.config.projection_dim == 16 and len(list(cache.glob("*/model.safetensors"))) == 1
