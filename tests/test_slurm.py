"""Running on SLURM GPU clusters: the profiles, the resources every rule asks for,
and a real run through a one-node SLURM on this machine.

The dry-run tests need no cluster: they plan `configs/paper.yaml` with the slurm
workflow profile and read each job's resources. Which rules are GPU rules is read
from the rules themselves (a rule is a GPU rule iff it declares a `gpu`
resource), never from a list here.

The `slurm`-marked test submits a reduced target of the embedded default to the
local cluster that `scripts/slurm/start-local-cluster.sh` starts (CI: `.ci/run`);
it is skipped, saying why, only where no such cluster is up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# The SLURM run: the target it builds and the rule whose GPU request is forced
# (`--set-resources RULE:gpu=1`: the config stays on CPU, the fake GPU is really
# requested). Switch both to a generation target once it is cheap enough.
SLURM_TARGET = "results/data/index.csv"
SLURM_GPU_RULE = "render_embedded"
SLURM_TIMEOUT_S = 170
# A config as small as the stages allow.
TINY_CONFIG = {
    "instruments": ["pia", "vio"],
    "data": {"clips_per_instrument": 4, "clip_seconds": 1.0, "heldout_clips_per_instrument": 1},
}

WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "configs", "envs", "src"]


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (no results, no .snakemake of the repo)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)


_JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def parse_resources(line: str) -> dict[str, object]:
    """`resources: tmpdir=/tmp, gpu=1, mem_mb=1000, mem=1 GB` -> dict (ints as ints)."""
    out: dict[str, object] = {}
    for item in line.split(":", 1)[1].split(", "):
        key, _, value = item.strip().partition("=")
        out[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out


def planned_jobs(workdir: Path, *args: str) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry run with these arguments plans."""
    proc = snakemake(workdir, "--dry-run", *args)
    assert proc.returncode == 0, f"dry run failed:\n{proc.stdout}\n{proc.stderr}"
    jobs: list[tuple[str, dict]] = []
    rule = None
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        line = line.strip()
        if m := _JOB_HEADER.match(line):
            rule = m.group(1)
            jobs.append((rule, {}))
        elif line.startswith("resources:") and rule is not None:
            jobs[-1] = (rule, parse_resources(line))
            rule = None
    assert jobs, f"the dry run planned no job:\n{proc.stdout}\n{proc.stderr}"
    return jobs


RULES_DUMP = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    out_path, configfiles = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=2),
            config_settings=ConfigSettings(configfiles=configfiles),
            snakefile=Path("Snakefile").resolve(),
            workdir=Path(".").resolve(),
        )._workflow
        rules = {
            rule.name: {
                "local": rule.name in workflow._localrules or bool(rule.norun),
                "n_inputs": len(rule.input),
                "outputs": [str(o) for o in rule.output],
                "resources": sorted(k for k in rule.resources.keys() if not k.startswith("_")),
                "params": sorted(rule.params.keys()),
                "script": str(Path(str(rule.snakefile)).parent / rule.script) if rule.script else None,
            }
            for rule in workflow.rules
        }
    out_path.write_text(json.dumps(rules))
    """
)


def declared_rules(workdir: Path, *configfiles: str) -> dict[str, dict]:
    """Every rule as the workflow declares it: local or not, inputs, outputs, resource names."""
    out = workdir / "rules.json"
    proc = subprocess.run(
        [sys.executable, "-c", RULES_DUMP, str(out), *configfiles],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def paper_workflow(tmp_path_factory) -> Path:
    if not (REPO / "configs" / "paper.yaml").exists():
        pytest.fail("configs/paper.yaml is missing: the paper-scale config is part of the workflow")
    return copy_workflow(tmp_path_factory.mktemp("paper") / "wf")


SLURM_PLAN = ("--workflow-profile", "profiles/slurm", "--configfile", "configs/paper.yaml")


@pytest.fixture(scope="module")
def paper_plan(paper_workflow) -> dict[str, list[tuple[str, dict]]]:
    """The paper DAG planned three ways: on CUDA (attempts 1 and 2) and forced to CPU."""
    return {
        "cuda": planned_jobs(paper_workflow, *SLURM_PLAN),
        "cuda_retry": planned_jobs(paper_workflow, *SLURM_PLAN, "--attempt", "2"),
        "cpu": planned_jobs(paper_workflow, *SLURM_PLAN, "--config", "device=cpu"),
    }


def test_paper_dry_run_gpu_rules_ask_for_a_gpu_cpu_rules_do_not(paper_plan):
    cuda = paper_plan["cuda"]
    gpu_rules = {rule for rule, res in cuda if "gpu" in res}
    assert gpu_rules, (
        "no rule of the paper DAG declares a GPU: model stages should use "
        "`resources: **gpu_resources(...)` (workflow/rules/resources.smk)"
    )
    for rule, res in cuda:
        if rule in gpu_rules:
            assert res["gpu"] >= 1, f"GPU rule {rule} asks for no GPU under device: cuda: {res}"
            for key in ("cpus_per_gpu", "mem_mb", "runtime"):
                assert isinstance(res.get(key), int) and res[key] >= 1, f"GPU rule {rule} lacks {key}: {res}"
        else:
            assert "gpu" not in res and "cpus_per_gpu" not in res, f"CPU rule {rule} asks for a GPU: {res}"
    # The same DAG on CPU asks for no GPU anywhere, but the GPU rules still say
    # they are GPU rules (gpu=0): the set is the rules' own, not the config's.
    for rule, res in paper_plan["cpu"]:
        assert res.get("gpu", 0) == 0, f"{rule} asks for a GPU under device: cpu: {res}"
        assert ("gpu" in res) == (rule in gpu_rules), f"{rule}: gpu declared only under one device: {res}"


def test_paper_dry_run_retry_asks_for_more_memory_and_time(paper_plan):
    # jobs come in no fixed order; within a rule, retries scale every job alike, so sort
    def order(plan):
        return sorted(plan, key=lambda job: (job[0], job[1].get("mem_mb", 0), job[1].get("runtime", 0)))

    first, retry = order(paper_plan["cuda"]), order(paper_plan["cuda_retry"])
    assert [r for r, _ in first] == [r for r, _ in retry]
    for (rule, res1), (_, res2) in zip(first, retry):
        if "gpu" in res1:
            assert res2["mem_mb"] > res1["mem_mb"], f"{rule}: mem_mb does not grow with attempt"
            assert res2["runtime"] > res1["runtime"], f"{rule}: runtime does not grow with attempt"


def test_requests_scale_with_config_sizes(paper_workflow):
    """A 100x bigger dataset and 100x more denoising steps ask for more GPU time."""
    plans = []
    for scale in (1, 100):
        sizes = {
            "device": "cuda",
            "data": {"clips_per_instrument": 24 * scale},
            "model": {"steps": 30 * scale},
        }
        (paper_workflow / f"sizes{scale}.yaml").write_text(yaml.safe_dump(sizes))
        plans.append(
            planned_jobs(paper_workflow, "--workflow-profile", "profiles/slurm", "--configfile", f"sizes{scale}.yaml")
        )
    small, large = ({r: res for r, res in plan if res.get("gpu", 0) >= 1} for plan in plans)
    assert small and small.keys() == large.keys(), "the embedded default on cuda has no GPU job"
    assert all(large[r]["runtime"] >= small[r]["runtime"] for r in small)
    assert sum(res["runtime"] for res in large.values()) > sum(res["runtime"] for res in small.values())


def test_downloads_are_local_rules_and_only_they(paper_workflow):
    rules = declared_rules(paper_workflow, "configs/paper.yaml")
    assert rules["all"]["local"], "rule all must be local"
    # A download is a rule that writes under resources/ from nothing in the workflow.
    downloads = {
        name
        for name, r in rules.items()
        if r["n_inputs"] == 0 and r["outputs"] and all(o.startswith("resources/") for o in r["outputs"])
    }
    for name in downloads:
        assert rules[name]["local"], (
            f"download rule {name} must be local (`localrule: True`): compute nodes may have no internet"
        )
    for name, r in rules.items():
        if "gpu" in r["resources"]:
            assert not r["local"], f"GPU rule {name} is local: it would run on the submit host"


def test_rules_running_models_on_the_device_are_gpu_rules(paper_workflow):
    """A job that gets config["device"] (as ``params.device``: scripts read no config) needs a GPU under cuda."""
    rules = declared_rules(paper_workflow, "configs/paper.yaml")
    uses_device = {name for name, r in rules.items() if "device" in r["params"]}
    assert uses_device, "no workflow rule passes config['device'] as params.device: is the device passed another way?"
    not_gpu = sorted(name for name in uses_device if "gpu" not in rules[name]["resources"])
    assert not not_gpu, f"rules run models on params.device but ask for no GPU: {not_gpu} (use **gpu_resources(...))"


def read_profile(name: str) -> dict:
    path = REPO / "profiles" / name / "config.yaml"
    assert path.exists(), f"{path} is missing"
    return yaml.safe_load(path.read_text())


def test_slurm_profile_leaves_site_settings_to_a_site_profile():
    slurm = read_profile("slurm")
    assert slurm["executor"] == "slurm"
    assert slurm["retries"] >= 1  # OOM / timeout -> retried with more (attempt)
    # default-resources in the workflow profile would hide a site profile's
    # (account, partition): Snakemake does not merge that key across profiles.
    assert "default-resources" not in slurm
    assert "slurm_account" not in json.dumps(slurm) and "slurm_partition" not in json.dumps(slurm)
    site = read_profile("slurm-site-example")
    assert "slurm_account" in site["default-resources"]
    # The example's partition file is one the plugin reads, GPU partition included.
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    partitions = read_partition_file(REPO / "profiles" / "slurm-site-example" / site["slurm-partition-config"])
    assert any(p.limits.max_gpu >= 1 for p in partitions)
    assert any(p.limits.max_gpu == 0 for p in partitions)


def test_site_profile_reaches_every_job(paper_workflow):
    jobs = planned_jobs(paper_workflow, *SLURM_PLAN, "--profile", "profiles/slurm-site-example")
    remote = [(r, res) for r, res in jobs if r != "all"]
    assert remote and all(res.get("slurm_account") == "my_project" for _, res in remote), remote


def test_slurm_profile_groups_gpu_jobs_one_gpu_per_slurm_job(paper_workflow):
    slurm = read_profile("slurm")
    # Each submitted job or group has its own pool of one GPU: grouped GPU jobs
    # run one after another on it, and SLURM jobs in flight are not limited.
    assert slurm["resources"]["gpu"] == 1
    assert slurm["set-resource-scopes"]["gpu"] == "local"
    # Rule names in the profile must be the workflow's (Snakemake ignores unknown ones).
    rules = declared_rules(paper_workflow, "configs/paper.yaml")
    named = set(slurm.get("groups", {})) | set(slurm.get("set-resources", {}))
    assert named <= set(rules), f"profiles/slurm names rules the workflow lacks: {sorted(named - set(rules))}"
    groups = set(slurm.get("groups", {}).values())
    assert groups <= set(slurm.get("group-components", {})), "every group needs a group-components count"


def test_default_profile_runs_locally():
    default = read_profile("default")
    assert "executor" not in default
    assert default["cores"] == "all" and default["rerun-incomplete"] is True
    assert default["resources"]["gpu"] == 1  # one GPU job at a time on a one-GPU machine


# --- a real run through SLURM -------------------------------------------------


def local_slurm_reason() -> str | None:
    """Why no local SLURM cluster can take jobs, or None when one can."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (run scripts/slurm/start-local-cluster.sh as root; CI: .ci/run)"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t %G"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering (scripts/slurm/start-local-cluster.sh)"
    if proc.returncode != 0:
        return f"the local SLURM cluster is not up (sinfo: {proc.stderr.strip()}); start it with scripts/slurm/start-local-cluster.sh"
    states = proc.stdout.split()
    if not any(s in ("idle", "mix") for s in states):
        return f"no idle SLURM node (sinfo: {proc.stdout.strip()!r})"
    if "gpu" not in proc.stdout:
        return "the SLURM node has no (fake) GPU gres; start it with scripts/slurm/start-local-cluster.sh"
    return None


def slurm_jobs(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """State, comment (Snakemake writes rule_<name>...) and GPU request of jobs, via squeue."""
    proc = subprocess.run(
        ["squeue", "--states=all", "-h", "-j", ",".join(job_ids), "-O", "JobID:|,State:|,Comment:|,tres-per-job:|"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 0, proc.stderr
    out = {}
    for line in proc.stdout.splitlines():
        job_id, state, comment, tres = (f.strip() for f in line.split("|")[:4])
        out[job_id] = {"state": state, "comment": comment, "tres": tres}
    return out


@pytest.mark.slurm
def test_workflow_runs_through_slurm(tmp_path):
    reason = local_slurm_reason()
    if reason:
        pytest.skip(reason)
    wf = copy_workflow(tmp_path / "wf")
    (wf / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    cmd = [
        "timeout",
        "-s",
        "KILL",
        str(SLURM_TIMEOUT_S),
        sys.executable,
        "-m",
        "snakemake",
        SLURM_TARGET,
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        "tiny.yaml",
        # no accounting database on the test cluster: squeue sees finished jobs
        # for MinJobAge (600 s); sacct would wait forever
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--set-resources",
        f"{SLURM_GPU_RULE}:gpu=1",
        f"{SLURM_GPU_RULE}:cpus_per_gpu=1",
        "--retries",
        "0",
        "--jobs",
        "4",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=wf, capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode != -9 and proc.returncode != 137, (
        f"snakemake hung and was killed after {SLURM_TIMEOUT_S}s:\n{log[-5000:]}"
    )
    assert proc.returncode == 0, f"snakemake through SLURM failed:\n{log[-5000:]}"
    assert (wf / SLURM_TARGET).is_file() and (wf / SLURM_TARGET).stat().st_size > 0

    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert submitted, f"no job went through SLURM:\n{log[-3000:]}"
    jobs = slurm_jobs(submitted)
    assert set(jobs) == set(submitted), f"squeue does not know all submitted jobs: {jobs}"
    assert all(j["state"] == "COMPLETED" for j in jobs.values()), jobs
    gpu_jobs = [j for j in jobs.values() if j["comment"].startswith(f"rule_{SLURM_GPU_RULE}")]
    assert gpu_jobs, f"rule {SLURM_GPU_RULE} did not run through SLURM: {jobs}"
    assert all("gpu:1" in j["tres"] for j in gpu_jobs), f"the fake GPU was not requested: {gpu_jobs}"
    cpu_jobs = [j for j in jobs.values() if j not in gpu_jobs]
    assert all("gpu" not in j["tres"] for j in cpu_jobs), f"a CPU job asked for a GPU: {cpu_jobs}"
