"""Smoke test of the benchmark (``python -m difftone.bench``) on the tiny model: it finishes and
prints its NFE sweep, and the cached edits equal the edits regenerated from scratch.

Slow: a subprocess that loads the tiny model and regenerates 9 edits from scratch (3 targets x
3 strategies on 4 steps; about 15 s of CPU); the full sweep (9 targets) runs the same code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_bench_on_the_tiny_model_prints_the_nfe_sweep():
    cmd = [sys.executable, "-m", "difftone.bench", "--model", "tiny", "--steps", "4", "--duration", "0.5",
           "--targets", "3", "--skip-full-size"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "== NFE: 1 source + 3 targets x 3 strategies, N = 4 steps, model tiny" in out
    for strategy in ("difftone", "midpoint", "random"):
        assert re.search(rf"^  {strategy}\s+swap steps \[", out, re.M), out
    ratio = float(re.search(r"NFE ratio cached/scratch = ([0-9.]+)", out).group(1))
    diff = float(re.search(r"max \|cached - scratch\| audio = ([0-9.e+-]+)", out).group(1))
    assert 0 < ratio < 0.5  # resuming from the trajectory cache costs far fewer NFE than regenerating
    assert diff < 1e-4  # and gives the same audio
