"""The rehearsal: the whole DAG of `--configfile configs/paper.yaml`, with every real component
replaced by a small offline stand-in of the same format (configs/rehearsal.yaml and
difftone.rehearsal.build_standins), on CPU with 2 steps.

fetch_models resolves the paper's hub ids (SAO, MERT at its pinned revision, the LAION-CLAP
file, the judge's RoBERTa tokenizer) from a Hugging Face cache with the hub switched off; the IRMAS zip goes through the
real download (file:// URL, md5) and extraction rules. Checked: the output contract, that
no demo-model rule ran, and that every job loaded its models from the fetched-models folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from difftone.rehearsal import build_standins

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
    "classifiers/table1_classifiers.log": ["resources/models/sao", "resources/models/mert",
                                           "resources/models/clap_tokenizer"],
    "features/extract_teacher_features.log": ["resources/models/mert"],
    "metrics/embed_references.log": ["resources/models/clap/music_audioset_epoch_15_esc_90.14.pt"],
    "metrics/difftone.log": ["resources/models/mert", "resources/models/clap/music_audioset_epoch_15_esc_90.14.pt",
                             "resources/models/clap_tokenizer"],
}


@pytest.mark.slow
def test_rehearsal_runs_the_paper_dag_on_stand_ins(tmp_path):
    data_yaml = build_standins(tmp_path / "standins")
    hf_home = tmp_path / "standins" / "hf-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_CACHE=str(hf_home / "hub"), HF_HUB_OFFLINE="1")
    workdir = tmp_path / "wd"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "--workflow-profile", "none", "--configfile", str(REPO / "config.yaml"), str(REPO / "configs/paper.yaml"),
           str(REPO / "configs/rehearsal.yaml"), str(data_yaml)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-6000:]

    missing = [p for p in CONTRACT if not (workdir / p).is_file()]
    assert not missing, missing
    for strategy in ("difftone", "agree"):
        for pair in ("pia_to_vio", "vio_to_pia"):
            assert (workdir / "results/edits" / strategy / pair / "swaps.csv").is_file()
        assert (workdir / "results/edits" / strategy / "nfe.json").is_file()
    # the real download and extraction rules ran on the stand-in zip; no demo model was trained
    assert (workdir / "resources/IRMAS-TrainingData.zip").is_file()
    assert (workdir / "logs/data/extract_irmas.log").is_file()
    assert not (workdir / "results/demo").exists() and not (workdir / "logs/demo").exists()
    assert "train_demo_model" not in proc.stderr
    for name in ("sao", "mert", "clap", "clap_tokenizer"):
        assert (workdir / "resources/models" / name / "FETCHED.json").is_file(), name
    logs = workdir / "logs"
    for pattern, folders in MODEL_LOGS.items():
        found = sorted(logs.glob(pattern))
        assert found, f"no log {pattern}"
        for log in found:
            text = log.read_text()
            for folder in folders:
                assert folder in text, f"{log.relative_to(workdir)} did not load from {folder}"
            assert "loaded stabilityai/" not in text and "loaded MERT m-a-p/" not in text
