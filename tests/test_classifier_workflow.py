"""Planned jobs of the classifier stages: a changed key reruns exactly what depends on it.

Runs the data, features and classifier rules for real on a tiny config (two
instruments, four clips each, the tiny SAO and tiny MERT, a few epochs), then
asks Snakemake (dry run) what a changed config key would rerun.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = "results/tables/table1_classifiers.csv"

pytestmark = pytest.mark.slow

EPOCHS = {"epochs": 2, "patience": 2, "batch_size": 4}
TINY = {
    "instruments": ["pia", "vio"],
    "data": {"clips_per_instrument": 5},
    "model": {"spec": "tiny", "steps": 4, "duration": 1.0},
    "prompts": {"n_per_instrument": 1, "source": "offline"},
    "classifiers": {"student_channels": 4, "teacher": EPOCHS, "distill": EPOCHS, "student_head": EPOCHS, "baseline": EPOCHS},
}


def _snakemake(workdir: Path, *args: str, configs: tuple[str, ...] = ("config.yaml",)) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "2", *args,
           "--configfile", *(str(workdir / c) for c in configs)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _planned(workdir: Path, override: dict) -> set[str]:
    (workdir / "override.yaml").write_text(yaml.safe_dump(override))
    res = _snakemake(workdir, "-n", TARGET, configs=("config.yaml", "override.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    stats = res.stdout.split("Job stats:")[1].split("total")[0] if "Job stats:" in res.stdout else ""
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+$", stats, re.M)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for key, value in TINY.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    res = _snakemake(wd, TARGET)
    assert res.returncode == 0, res.stderr[-5000:]
    return wd


def test_workflow_writes_table1_and_checkpoints(workdir):
    table = pd.read_csv(workdir / TARGET)
    assert list(table["classifier"]) == ["teacher"] * 2 + ["distilled"] * 2 + ["non-distilled"] * 2
    assert list(table["eval_set"]) == ["irmas_val", "generated"] * 3 and (table["n"] > 0).all()
    for name in ("teacher", "student", "distilled", "non-distilled"):
        assert (workdir / "results" / "classifiers" / name / "model.safetensors").is_file()
    log = (workdir / "logs" / "classifiers" / "train_teacher.log").read_text()
    assert "teacher epoch 1: train_loss" in log and "val_acc" in log  # per-epoch loss and accuracy in the rule's log


def test_nothing_to_do_when_unchanged(workdir):
    assert _planned(workdir, {}) == set()


# Table I's generated set comes from the source generations, whose classifier trace is
# the distilled classifier's: a new head regenerates them, and nothing else upstream.
GENERATED = {"generate_sources", "generated_set"}


def test_head_epochs_retrain_only_the_head(workdir):
    planned = _planned(workdir, {"classifiers": {"student_head": {"epochs": 3}}})
    assert planned == {"train_student_head", "table1_classifiers"} | GENERATED


def test_teacher_epochs_retrain_teacher_and_what_depends_on_it(workdir):
    planned = _planned(workdir, {"classifiers": {"teacher": {"epochs": 3}}})
    assert planned == {"train_teacher", "distill_student", "train_student_head", "table1_classifiers"} | GENERATED


def test_mert_spec_reruns_features_not_latents(workdir):
    planned = _planned(workdir, {"teacher_features": {"layers": [0, 4]}})
    assert "extract_mert_features" in planned and "train_teacher" in planned
    assert "encode_sao_latents" not in planned and "train_baseline" not in planned
