"""The conda environment for clusters and the package's dependencies must agree."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines):
    return {Requirement(line).name.lower().replace("_", "-"): str(Requirement(line).specifier) for line in lines}


def test_conda_env_pins_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "difftone.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _requirements(pip_section) == _requirements(project["dependencies"])


def test_torchaudio_and_laion_clap_are_not_dependencies():
    # torchaudio pins torch exactly; laion-clap pins numpy<2 and downloads at import (README).
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set(_requirements(project["dependencies"]))
    for extra in project.get("optional-dependencies", {}).values():
        names |= set(_requirements(extra))
    assert not names & {"torchaudio", "laion-clap"}
