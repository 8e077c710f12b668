"""The benchmark (``python -m difftone.bench``) on the tiny model: it finishes, writes the JSON keys issue 17
asks for, and the cached edits equal the edits regenerated from scratch.

Slow: a subprocess that loads the tiny model, runs the pipeline, a source, an edit, 2 targets x 3 strategies
and 2 regenerated edits on 4 steps (about 30 s of CPU); the default run (9 targets) runs the same code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from difftone.bench import JSON_KEYS

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_bench_on_the_tiny_model_writes_the_json(tmp_path):
    out = tmp_path / "bench" / "cpu.json"
    cmd = [
        sys.executable,
        "-m",
        "difftone.bench",
        "--device",
        "cpu",
        "--model",
        "tiny",
        "--sources",
        "2",
        "--steps",
        "4",
        "--duration",
        "0.5",
        "--targets",
        "2",
        "--scratch-edits",
        "2",
        "--skip-full-size",
        "--json",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(JSON_KEYS) <= set(result)
    assert {"pipeline_seconds", "nfe_cached", "paper_scale_minutes"} <= set(JSON_KEYS)
    assert result["paper_scale_extrapolated"] is True and "extrapolated" in result["paper_scale_note"]
    assert result["sources"] == 2 and result["strategies"] == ["difftone", "midpoint", "random"]
    assert all(result[k] > 0 for k in ("pipeline_seconds", "source_seconds", "edit_seconds_half", "hook_ratio"))
    # 2 sources x (4 steps + 2 targets x 3 strategies x 4 steps) regenerated; the cache resumes at the swap steps
    assert result["nfe_scratch"] == 2 * 4 + result["edits"] * 4 and result["edits"] == 12
    assert 0 < result["nfe_ratio"] < 0.5 and result["nfe_ratio"] == result["nfe_cached"] / result["nfe_scratch"]
    assert 0 < result["dit_calls"] < result["nfe_cached"]  # batched: several edits per DiT call
    assert result["max_abs_diff"] < 1e-4  # float16 cache: within tests/test_speed.py's FP16_RESUME_ATOL
    assert result["pipeline_max_abs_diff"] < 1e-4  # the engine's source = diffusers' pipeline
    assert result["paper_scale_minutes"] == pytest.approx(result["sweep_seconds_per_source"] * 100 / 60)
    assert "paper scale (extrapolated)" in run.stdout


def test_bench_refuses_bad_arguments():
    from difftone.bench import main

    with pytest.raises(SystemExit):
        main(["--sources", "0"])
