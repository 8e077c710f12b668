"""`difftone edit`: outputs with --model tiny, one clear message per bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import soundfile as sf
import torch

from difftone.cli import main

torch.set_num_threads(1)

BASE = ["edit", "--prompt", "A soft piano melody", "--source", "piano", "--target", "violin", "--seed", "7",
        "--model", "tiny", "--steps", "4", "--duration", "1.0"]


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
    ok = subprocess.run([exe, "-q", *BASE, "--steps", "3", "-o", str(tmp_path / "ok")], capture_output=True, text=True,
                        env={**os.environ, "OMP_NUM_THREADS": "1"})
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
