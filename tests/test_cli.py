"""`difftone edit`: outputs with --model tiny, one clear message per bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from difftone.cli import main

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def away_from_the_repository(tmp_path, monkeypatch):
    """Each test in a folder of its own: the repository's config.yaml (which `difftone edit` reads from the
    working directory) is not in it, so the schema's defaults apply unless a test writes one."""
    monkeypatch.chdir(tmp_path)


BASE = [
    "edit",
    "--prompt",
    "A soft piano melody",
    "--source",
    "piano",
    "--target",
    "violin",
    "--seed",
    "7",
    "--model",
    "tiny",
    "--steps",
    "4",
    "--duration",
    "1.0",
]


def test_edit_with_tiny_writes_audio_and_json(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-q", *BASE, "--strategy", "fixed:2", "--save-trajectory", "-o", str(out)]) == 0
    record = json.loads((out / "edit.json").read_text())
    assert record["swap_step"] == 2 and record["reason"] == "fixed step 2"
    assert record["target_prompt"] == "A soft violin melody" and (record["source"], record["target"]) == ("pia", "vio")
    assert record["classifier"]["trained"] is False
    assert len(record["trace"]["top1"]) == 4 and len(record["trace"]["probs"][0]) == 10
    assert record["nfe"] == {"source": 4, "edit": 2, "probe": 0, "total": 6}  # edit: its run + its probe
    assert record["fallback"] is False
    source, sr = sf.read(out / "source.wav")
    edit, sr2 = sf.read(out / "edit.wav")
    assert sr == sr2 == 44100 and source.shape == edit.shape == (44100, 2)
    assert abs(source - edit).max() > 0
    assert (out / "trajectory" / "trajectory.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edit.wav", "source.wav", "trajectory"]


def test_difftone_strategy_records_the_no_change_policy(tmp_path):
    out = tmp_path / "skip"
    assert main(["-q", *BASE, "--no-change-policy", "skip", "-o", str(out)]) == 0
    record = json.loads((out / "edit.json").read_text())
    top1 = record["trace"]["top1"]
    changes = [i for i in range(1, len(top1)) if top1[i] != top1[i - 1]]
    if changes:
        assert record["swap_step"] == changes[-1]
    else:
        assert record["swap_step"] is None and record["skipped"] and "policy skip" in record["reason"]
        assert not (out / "edit.wav").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (["--target", "kazoo"], "unknown instrument 'kazoo'"),
        (["--prompt", "A soft organ melody"], "'A soft organ melody' does not contain the source instrument pia"),
        (["--steps", "1"], "--steps must be at least 2"),
        (["--duration", "60"], "outside the model's window"),
        (["--target", "pia"], "the same instrument"),
        (["--strategy", "sideways"], "unknown swap strategy"),
        (["--model", "/nonexistent/sao"], "model folder /nonexistent/sao does not exist"),
        (["--classifier", "/nonexistent/clf"], "--classifier /nonexistent/clf does not exist"),
    ],
)
def test_bad_input_exits_with_one_message(tmp_path, capsys, change, message):
    args = list(BASE)
    for flag, value in zip(change[::2], change[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main([*args, "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "edit.json").exists()


def test_real_model_without_classifier_needs_one(tmp_path, capsys, monkeypatch):
    from difftone.models import load_sao

    tiny = load_sao("tiny")
    monkeypatch.setattr("difftone.models.load_backbone", lambda spec, dtype, device: tiny)
    assert main([*BASE[:-6], "--model", "some/snapshot", "--steps", "4", "--duration", "1", "-o", str(tmp_path)]) == 1
    assert "needs a trained latent classifier" in capsys.readouterr().err


def test_console_script(tmp_path):
    """The `difftone` entry point that `pip install` creates (scripts/setup.sh) works end to end."""
    exe = shutil.which("difftone") or os.path.join(os.path.dirname(sys.executable), "difftone")
    bad = subprocess.run([exe, *BASE, "--source", "kazoo", "-o", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown instrument 'kazoo'" in bad.stderr and "Traceback" not in bad.stderr
    ok = subprocess.run(
        [exe, "-q", *BASE, "--steps", "3", "-o", str(tmp_path / "ok")],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "ok" / "edit.json").read_text())["steps"] == 3


def test_edit_with_musicmagus_writes_audio_and_json(tmp_path):
    out = tmp_path / "mm"
    assert main(["-q", *BASE, "--method", "musicmagus", "-o", str(out)]) == 0
    record = json.loads((out / "edit.json").read_text())
    assert record["method"] == "musicmagus" and (record["source"], record["target"]) == ("pia", "vio")
    assert record["target_prompt"] == "A soft violin melody" and record["captions"] == "offline"
    assert record["settings"]["step_size"] == 0.04  # the reference notebook's default
    assert len(record["constraint_loss"]) == 4  # the constraint ran at every step (constraint_steps [0, 1])
    assert record["nfe"] == {"source": 4, "edit": 3 * 4, "total": 16}  # 3 NFE per constrained step
    source, sr = sf.read(out / "source.wav")
    edit, sr2 = sf.read(out / "edit.wav")
    assert sr == sr2 == 44100 and source.shape == edit.shape == (44100, 2)
    assert abs(source - edit).max() > 0
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edit.wav", "source.wav"]


def test_musicmagus_caption_file_without_its_word_names_the_file(tmp_path, capsys):
    captions = tmp_path / "captions"
    captions.mkdir()
    (captions / "pia.txt").write_text("a soft piano melody with gentle chords\n")
    (captions / "vio.txt").write_text("a lyrical melody with vibrato and slow bowing\n")  # no violin word
    out = tmp_path / "out"
    assert main(["-q", *BASE, "--method", "musicmagus", "--captions", str(captions), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("difftone edit: error: caption file ") and str(captions / "vio.txt") in err
    assert "line 1" in err and "regenerate it" in err and len(err.splitlines()) == 1
    assert not out.exists()


# -- in the folder of a finished run ------------------------------------------------------------------
RUN_CONFIG = {"model": {"spec": "demo", "steps": 4, "duration": 1.0, "guidance_scale": 1.5}}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A folder laid out like one after `bash scripts/run.sh`: config.yaml (model.spec demo, guidance 1.5),
    a demo model at results/demo/model and a distilled classifier at results/classifiers/distilled (both
    small and untrained: what matters is that they are found and loaded)."""
    import yaml

    from difftone.classifiers import tiny_latent_classifier
    from difftone.classifiers.checkpoint import save_checkpoint
    from difftone.config import validate_config
    from difftone.models import load_backbone
    from difftone.models.demo import build_demo_components, save_demo_components

    run = tmp_path_factory.mktemp("run")
    (run / "config.yaml").write_text(yaml.safe_dump(RUN_CONFIG))
    save_demo_components(build_demo_components(None, sample_size=22, seed=1), run / "results" / "demo" / "model")
    channels = load_backbone(f"demo:{run / 'results' / 'demo' / 'model'}").latent_channels
    clf = tiny_latent_classifier(channels, validate_config({})["instruments"], seed=0)
    save_checkpoint(clf, "latent_classifier", clf.checkpoint_config(), run / "results" / "classifiers" / "distilled")
    return run


RUN_EDIT = ["edit", "--prompt", "A gentle piano melody", "--source", "piano", "--target", "violin", "-o", "out"]


def test_edit_in_a_finished_run_uses_its_model_classifier_and_config(finished_run, monkeypatch, caplog):
    import logging

    from difftone import models

    monkeypatch.chdir(finished_run)
    loaded = []
    real_load = models.load_backbone
    monkeypatch.setattr(
        "difftone.models.load_backbone", lambda spec, **kw: loaded.append(spec) or real_load(spec, **kw)
    )
    caplog.set_level(logging.INFO)
    assert main(RUN_EDIT) == 0
    record = json.loads((finished_run / "out" / "edit.json").read_text())
    assert loaded == ["demo:results/demo/model"] and record["model"] == "demo:results/demo/model"
    assert record["classifier"] == {"path": "results/classifiers/distilled", "trained": True}
    assert record["strategy"] == "difftone" and record["config"] == "config.yaml"
    assert record["guidance_scale"] == 1.5 and record["steps"] == 4 and record["duration"] == 1.0  # not 4.0, 30, 3.0
    assert "model: the run's trained demo model results/demo/model (model.spec demo)" in caplog.text
    assert "classifier: the run's distilled classifier results/classifiers/distilled" in caplog.text


def test_a_bad_input_file_fails_before_any_model_is_loaded(finished_run, tmp_path, monkeypatch, capsys):
    from difftone import audio

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the input file was checked")

    monkeypatch.chdir(finished_run)
    monkeypatch.setattr("difftone.models.load_backbone", no_model)
    assert main([*RUN_EDIT[:-2], "--audio", "my_pianno.wav", "-o", str(tmp_path / "o")]) == 1
    assert "my_pianno.wav: file does not exist" in capsys.readouterr().err
    silent = tmp_path / "silent.wav"
    audio.write(silent, np.zeros((1, 44100), dtype=np.float32), 44100)
    assert main([*RUN_EDIT[:-2], "--audio", str(silent), "-o", str(tmp_path / "o")]) == 1
    assert "silent.wav: silent" in capsys.readouterr().err
    assert main([*RUN_EDIT[:-2], "--classifier", "results/classifiers/distiled", "-o", str(tmp_path / "o")]) == 1
    assert "--classifier results/classifiers/distiled does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_session_precedence_flags_then_config_file_then_local_config_then_schema(finished_run, tmp_path):
    import yaml

    from difftone.session import resolve_session

    here = resolve_session(workdir=finished_run)
    assert here.config["model"]["guidance_scale"] == 1.5 and here.config_source == str(finished_run / "config.yaml")
    assert here.model == f"demo:{finished_run / 'results/demo/model'}"
    assert here.classifier == str(finished_run / "results/classifiers/distilled")
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"model": {"spec": "demo", "guidance_scale": 2.5}}))
    given = resolve_session(config_path=other, workdir=finished_run, overrides={"model": {"steps": 7}})
    assert given.config["model"]["guidance_scale"] == 2.5 and given.config["model"]["steps"] == 7
    # --config is laid over ./config.yaml (as snakemake --configfile over the Snakefile's), then the schema
    assert given.config["model"]["duration"] == 1.0 and given.config["swap"]["no_change_policy"] == "midpoint"
    assert given.config_source == f"{finished_run / 'config.yaml'} + {other}"
    tiny = resolve_session(model="tiny", workdir=finished_run)  # another model: not the run's classifier
    assert (tiny.model, tiny.classifier) == ("tiny", None)
    empty = resolve_session(workdir=tmp_path)  # no config.yaml, no run
    assert empty.config["model"]["guidance_scale"] == 4.0 and empty.model == "demo" and empty.classifier is None
    assert "no trained model at" in empty.notes[1] and "scripts/run.sh" in empty.notes[1]
