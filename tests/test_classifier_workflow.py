"""Planned jobs of the classifier stages: a changed key reruns exactly what depends on it.

Runs the data, features and classifier rules for real on a tiny config (two
instruments, four clips each, the tiny SAO and tiny MERT, a few epochs), then
asks Snakemake (dry run) what a changed config key would rerun.
"""

from __future__ import annotations

import pandas as pd
import pytest
from workflow_runner import Workflow

TARGET = "results/tables/table1_classifiers.csv"

pytestmark = pytest.mark.slow

EPOCHS = {"epochs": 2, "patience": 2, "batch_size": 4}
TINY = {
    "instruments": ["pia", "vio"],
    "data": {"clips_per_instrument": 5, "heldout_clips_per_instrument": 2},
    "model": {"spec": "tiny", "steps": 4, "duration": 1.0},
    "prompts": {"n_per_instrument": 1, "source": "offline"},
    "sweep": {"steps": []},
    "classifiers": {
        "student_channels": 4,
        "teacher": EPOCHS,
        "distill": EPOCHS,
        "student_head": EPOCHS,
        "baseline": EPOCHS,
    },
}


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    wf = Workflow(tmp_path_factory.mktemp("wf"), TINY)
    wf.run(TARGET)
    return wf


@pytest.fixture(scope="module")
def workdir(wf):
    return wf.workdir


def _planned(wf: Workflow, override: dict) -> set[str]:
    return set(wf.planned_rules(TARGET, override=override)) - {"all"}


def test_workflow_writes_table1_and_checkpoints(workdir):
    table = pd.read_csv(workdir / TARGET)
    assert list(table["classifier"]) == ["teacher"] * 3 + ["distilled"] * 3 + ["non-distilled"] * 3 + ["judge"] * 3
    assert list(table["eval_set"]) == ["irmas_test", "heldout_soundfont", "generated"] * 4 and (table["n"] > 0).all()
    # every classifier is scored on the held-out soundfont's clips (2 per instrument), which none trained on
    assert (table.loc[table["eval_set"] == "heldout_soundfont", "n"] == 4).all()
    # the epoch of the trained classifiers is chosen on the validation split; the judge trains fixed iterations
    assert list(table["selected_by"]) == ["val"] * 9 + ["none (fixed iterations)"] * 3
    for name in ("teacher", "student", "distilled", "non-distilled"):
        assert (workdir / "results" / "classifiers" / name / "model.safetensors").is_file()
    log = (workdir / "logs" / "classifiers" / "train_teacher.log").read_text()
    assert "teacher epoch 1: train_loss" in log and "val_acc" in log  # per-epoch loss and accuracy in the rule's log


def test_nothing_to_do_when_unchanged(wf):
    assert _planned(wf, {}) == set()


# Table I's generated set comes from the source generations, whose classifier trace is
# the distilled classifier's: a new head regenerates them, and nothing else upstream.
GENERATED = {"generate_sources", "link_sources", "generated_set"}


def test_head_epochs_retrain_only_the_head(wf):
    planned = _planned(wf, {"classifiers": {"student_head": {"epochs": 3}}})
    assert planned == {"train_student_head", "table1_classifiers"} | GENERATED


def test_teacher_epochs_retrain_teacher_and_what_depends_on_it(wf):
    planned = _planned(wf, {"classifiers": {"teacher": {"epochs": 3}}})
    assert planned == {"train_teacher", "distill_student", "train_student_head", "table1_classifiers"} | GENERATED


def test_roundtrip_off_keeps_the_clean_features_and_retrains_the_teacher(wf, workdir):
    # the embedded default round-trips the train/val clips (teacher_features.roundtrip: demo); off, the
    # clean manifest is the one already there and only the teacher and what depends on it rerun
    assert (workdir / "results" / "features" / "teacher_roundtrip" / "index.csv").is_file()
    planned = _planned(wf, {"teacher_features": {"roundtrip": None}})
    assert planned == {"train_teacher", "distill_student", "train_student_head", "table1_classifiers"} | GENERATED


def test_mert_spec_reruns_features_not_latents(wf):
    planned = _planned(wf, {"teacher_features": {"layers": [0, 4]}})
    assert "extract_teacher_features" in planned and "train_teacher" in planned
    assert "encode_sao_latents" not in planned and "train_baseline" not in planned


# Keys the scripts once read from snakemake.config: now in the rules' params, so a change reruns the job.
def test_feature_batch_sizes_rerun_their_feature_job(wf):
    planned = _planned(wf, {"teacher_features": {"batch_size": 3}})
    assert "extract_teacher_features" in planned and "encode_sao_latents" not in planned
    planned = _planned(wf, {"classifiers": {"latent_batch_size": 3}})
    assert "encode_sao_latents" in planned and "extract_teacher_features" not in planned


def test_device_reruns_every_model_job(wf):
    planned = _planned(wf, {"device": "cuda:1"})
    assert {
        "extract_teacher_features",
        "encode_sao_latents",
        "train_teacher",
        "distill_student",
        "train_student_head",
        "train_baseline",
        "table1_classifiers",
        "generate_sources",
    } <= planned
    assert "scan_clips" not in planned  # a data job does not run a model
