"""scripts/job_times.py: job-seconds per rule from a Snakemake log (the time breakdowns in docs/results.md)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "job_times.py"
spec = importlib.util.spec_from_file_location("job_times", SCRIPT)
job_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job_times)

LOG = """Building DAG of jobs...
[Wed Dec  2 01:52:33 2026]
localrule render_embedded:
    output: results/data
    jobid: 3
[Wed Dec  2 01:52:35 2026]
rule make_prompts:
    jobid: 7
    wildcards: instrument=pia
[Wed Dec  2 01:52:40 2026]
Finished jobid: 7 (Rule: make_prompts)
[Wed Dec  2 01:53:33 2026]
Finished jobid: 3 (Rule: render_embedded)
[Wed Dec  2 01:53:34 2026]
rule make_prompts:
    jobid: 8
[Wed Dec  2 01:53:37 2026]
Finished job 8.
"""


def test_job_times_reads_starts_and_finishes_of_both_log_formats(tmp_path):
    log = tmp_path / "run.snakemake.log"
    log.write_text(LOG)
    wall, jobs = job_times.job_times(log)
    assert wall == 64.0
    assert jobs == [(0.0, 60.0, "render_embedded"), (2.0, 5.0, "make_prompts"), (61.0, 3.0, "make_prompts")]
    (tmp_path / "other.log").write_text("nothing here\n")
    with pytest.raises(SystemExit, match="no jobs found"):
        job_times.job_times(tmp_path / "other.log")
