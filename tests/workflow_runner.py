"""Run the repository's workflow in a scratch directory: for the tests of whole stages.

wf = Workflow(tmp_path, {"instruments": ["pia", "vio"], ...})   # config.yaml + overrides
wf.run("results/tables/table2_strategies.csv")
wf.planned_rules(override={"edits": {...}})   # {rule: count} a dry run would execute
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Workflow:
    def __init__(self, workdir: Path, overrides: dict, cores: int = 2):
        self.workdir = Path(workdir)
        self.cores = cores
        self.config = merge(yaml.safe_load((ROOT / "config.yaml").read_text()), overrides)
        (self.workdir / "config.yaml").write_text(yaml.safe_dump(self.config))

    def snakemake(self, *args: str, config: str = "config.yaml", timeout: int = 900) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(self.workdir),
            "--cores",
            str(self.cores),
            "--workflow-profile",
            "none",
            *args,
            "--configfile",
            str(self.workdir / config),
        ]  # last: --configfile takes several values
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def run(self, *targets: str) -> subprocess.CompletedProcess:
        res = self.snakemake(*targets)
        assert res.returncode == 0, res.stderr[-6000:]
        return res

    def planned_rules(self, *targets: str, override: dict | None = None) -> dict[str, int]:
        """``{rule: jobs}`` that a dry run would execute, with ``override`` applied to the config."""
        config = "config.yaml"
        if override:
            config = "override.yaml"
            (self.workdir / config).write_text(yaml.safe_dump(merge(self.config, override)))
        res = self.snakemake(*targets, "-n", "--quiet", "rules", config=config)  # --quiet takes several values
        assert res.returncode == 0, res.stderr[-6000:]
        text = res.stdout + res.stderr
        if "Nothing to be done" in text:
            return {}
        stats = text.split("Job stats:")[1].split("total")[0]
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
