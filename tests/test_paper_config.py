"""configs/paper.yaml as Snakemake reads it (config.yaml, then the paper file merged over it):
Stable Audio Open at 100 steps and 10 s on CUDA, no demo-model rule, the hub models
fetched once, and edit jobs a cluster can spread (one per strategy and source instrument).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from workflow_runner import merge

from difftone.config import ConfigError, validate_config
from difftone.models.fetch import hub_models

REPO = Path(__file__).resolve().parents[1]


def paper_config() -> dict:
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    return validate_config(merge(base, yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())), "paper")


def test_paper_config_selects_stable_audio_open():
    cfg = paper_config()
    assert cfg["model"] == {
        "spec": "stabilityai/stable-audio-open-1.0",
        "dtype": "float16",
        "steps": 100,
        "guidance_scale": 7.0,
        "duration": 10.0,
        "compile": False,
        "window": "full",
        "window_margin_frames": 8,
    }  # the paper's window; speed options off (docs/speed.md)
    assert cfg["generation"]["cache_dtype"] == "float16" and cfg["edits"]["batch_size"] == 16
    assert cfg["device"] == "cuda"
    assert max(cfg["sweep"]["steps"]) == cfg["model"]["steps"]  # the sweep spans the 100-step schedule
    assert all(0 <= f <= 1 for f in cfg["report"]["swap_steps"])  # Figure 2: fractions of model.steps


def test_paper_config_fetches_every_hub_model_it_names():
    cfg = paper_config()
    models = hub_models(cfg)
    assert {n: (m.repo_id, m.revision, m.filename) for n, m in models.items()} == {
        "sao": ("stabilityai/stable-audio-open-1.0", None, None),
        "mert": ("m-a-p/MERT-v1-95M", "12af15fef9d0ac838c3f475bfbbf26d2060dd4f5", None),
        "clap": ("lukewys/laion_clap", None, "music_audioset_epoch_15_esc_90.14.pt"),
        "audioldm2": ("cvssp/audioldm2", None, None),  # musicmagus.model: Table III's backbone
        "clap_tokenizer": ("FacebookAI/roberta-base", None, None),  # the CLAP zero-shot judge's text side
    }
    assert "model_index.json" in models["sao"].allow_patterns
    assert {"model_index.json", "*/*.safetensors", "*/*.json"} <= set(models["audioldm2"].allow_patterns)
    assert "audioldm2" not in hub_models(merge(cfg, {"musicmagus": {"model": None}}))
    assert cfg["musicmagus"]["sources_per_pair"] is None  # every test source (the default caps it for CPU)
    assert (cfg["metrics"]["clap"]["window_s"], cfg["metrics"]["clap"]["hop_s"]) == (10.0, 1.0)  # kadtk's windows
    assert {"tokenizer.json", "vocab.json", "merges.txt", "config.json"} <= set(models["clap_tokenizer"].allow_patterns)
    assert not any("safetensors" in p or ".bin" in p for p in models["clap_tokenizer"].allow_patterns)  # no weights
    assert "clap_tokenizer" not in hub_models(merge(cfg, {"judge": {"kind": "mfcc_logreg"}}))


def test_step_settings_are_checked_against_model_steps():
    cfg = paper_config()
    with pytest.raises(ConfigError, match=r"sweep.steps: step 60 is beyond model.steps \(50\)"):
        validate_config(merge(cfg, {"model": {"steps": 50}}))
    with pytest.raises(
        ConfigError, match=r"edits.strategies: strategy fixed:K needs an integer K in \[0, 100\], got .101."
    ):
        validate_config(merge(cfg, {"edits": {"strategies": ["fixed:101"]}}))


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory) -> list[tuple[str, dict]]:
    """(rule, wildcards and ``_input``) of every job a dry run of `--configfile configs/paper.yaml` plans."""
    workdir = tmp_path_factory.mktemp("paper-dry")
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
        "--workflow-profile",
        "none",
        "-n",
        "--configfile",
        str(REPO / "config.yaml"),
        str(REPO / "configs" / "paper.yaml"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs, rule = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        line = line.strip()
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = m.group(1)
            jobs.append((rule, {}))
        elif line.startswith("input:") and rule is not None:
            jobs[-1][1]["_input"] = line.split(":", 1)[1].strip()
        elif line.startswith("wildcards:") and rule is not None:
            jobs[-1][1].update(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))
    return jobs


def test_paper_dry_run_plans_no_demo_model_and_fetches_models(paper_dry_run):
    rules = Counter(rule for rule, _ in paper_dry_run)
    assert "train_demo_model" not in rules and "fit_demo_autoencoder" not in rules
    assert sorted(w["model_name"] for r, w in paper_dry_run if r == "fetch_models") == [
        "audioldm2",
        "clap",
        "clap_tokenizer",
        "mert",
        "sao",
    ]


def test_paper_dry_run_plans_musicmagus_on_the_fetched_audioldm2(paper_dry_run):
    (mm,) = [w for r, w in paper_dry_run if r == "edit_musicmagus"]
    assert "resources/models/audioldm2" in mm["_input"] and "resources/models/sao" not in mm["_input"]
    assert [r for r, _ in paper_dry_run].count("table3_musicmagus") == 1


def test_paper_dry_run_spreads_edits_per_strategy_and_source(paper_dry_run):
    cfg = paper_config()
    edits = [w for r, w in paper_dry_run if r == "edit_pairs"]
    per_strategy = Counter(w["strategy"] for w in edits)
    slugs = {s.replace(":", "-") for s in cfg["edits"]["strategies"]}
    assert set(per_strategy) == slugs
    assert all(n >= 10 for n in per_strategy.values()), per_strategy
    for slug in slugs:
        assert sorted(w["edit_job"] for w in edits if w["strategy"] == slug) == sorted(cfg["instruments"])
    assert Counter(w["strategy"] for r, w in paper_dry_run if r == "gather_edits") == Counter({s: 1 for s in slugs})


def test_paper_dry_run_generates_each_instruments_sources_in_its_own_job(paper_dry_run):
    cfg = paper_config()
    jobs = [w for r, w in paper_dry_run if r == "generate_sources"]
    assert sorted(w["source_job"] for w in jobs) == sorted(cfg["instruments"])  # one per instrument: spread on SLURM
    assert sorted(w["instrument"] for r, w in paper_dry_run if r == "link_sources") == sorted(cfg["instruments"])
