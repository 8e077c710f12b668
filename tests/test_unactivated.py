"""The workflow run through the venv's own ``snakemake`` with the venv not activated (as cluster scripts
and cron jobs call it): every rule, shell rules included, runs with the interpreter that runs Snakemake,
not with whatever ``python`` is on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from workflow_runner import ROOT, Workflow

from difftone.experiment.items import SOURCE_COLUMNS

BARE_PATH = "/usr/bin:/bin"  # no venv, no `python` that imports difftone's dependencies


def bare_env() -> dict[str, str]:
    """The environment of a shell that never activated the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")}
    env["PATH"] = BARE_PATH
    return env


def test_bare_path_has_no_python_that_runs_difftone():
    """The premise: on BARE_PATH, `python -c 'import numpy, difftone'` fails (or there is no `python`)."""
    probe = subprocess.run(
        ["bash", "-c", "python -c 'import numpy, torch, difftone'"], env=bare_env(), capture_output=True, text=True
    )
    assert probe.returncode != 0


def test_venv_snakemake_runs_the_shell_and_script_rules_without_an_activated_venv(tmp_path):
    # the sources of two instruments as one generation job wrote them; Snakemake links them per instrument
    # (link_sources, a shell rule) and lists them (generated_set, a script rule)
    wf = Workflow(
        tmp_path, {"instruments": ["pia", "vio"], "model": {"spec": "tiny"}, "generation": {"instruments_per_job": 2}}
    )
    for code in ("pia", "vio"):
        folder = tmp_path / "results" / "source_jobs" / "pia-vio" / code
        (folder / f"{code}-p000-s0").mkdir(parents=True)
        (folder / f"{code}-p000-s0" / "source.wav").write_bytes(b"RIFF")
        pd.DataFrame(
            [
                {
                    "item": f"{code}-p000-s0",
                    "instrument": code,
                    "prompt_index": 0,
                    "seed": 0,
                    "prompt": "p",
                    "audio": f"{code}-p000-s0/source.wav",
                    "trajectory": f"{code}-p000-s0/trajectory",
                    "top1_final": code,
                }
            ],
            columns=SOURCE_COLUMNS,
        ).to_csv(folder / "items.csv", index=False)
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [
        str(snakemake),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(wf.workdir),
        "--cores",
        "1",
        "--workflow-profile",
        "none",
        "--allowed-rules",
        "link_sources",
        "generated_set",
        "--configfile",
        str(wf.workdir / "config.yaml"),
        "--",
        "results/sources/generated_set.csv",
    ]
    run = subprocess.run(cmd, env=bare_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    listed = pd.read_csv(tmp_path / "results" / "sources" / "generated_set.csv")
    assert listed["item"].tolist() == ["pia-p000-s0", "vio-p000-s0"]
    linked = tmp_path / "results" / "sources" / "vio" / "vio-p000-s0" / "source.wav"
    assert linked.samefile(tmp_path / "results" / "source_jobs" / "pia-vio" / "vio" / "vio-p000-s0" / "source.wav")
    assert "python: command not found" not in run.stderr
