"""The workflow passes Snakemake's linter and is formatted with snakefmt, as CI of
the snakemake-workflows template checks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_snakemake_lint_reports_nothing():
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--workflow-profile", "none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in res.stdout + res.stderr, res.stdout + res.stderr


def test_rule_files_are_snakefmt_formatted():
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    res = subprocess.run(
        [Path(sys.executable).parent / "snakefmt", "--check", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr + res.stdout


def _config_reads(script: Path) -> list[int]:
    """Lines of ``script`` that read ``snakemake.config`` (a key that bypasses the rule's params)."""
    import ast

    return [
        node.lineno
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == "config"
        and isinstance(node.value, ast.Name)
        and node.value.id == "snakemake"
    ]


def test_workflow_scripts_read_config_only_through_params():
    """A key read from ``snakemake.config`` is not in the rule's params, so changing it would not rerun the job."""
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    assert scripts
    reads = {script.name: lines for script in scripts if (lines := _config_reads(script))}
    assert reads == {}, f"move these config reads into the rule's params: {reads}"


def test_the_config_read_check_finds_a_read(tmp_path):
    script = tmp_path / "s.py"
    script.write_text('x = 1\ndevice = snakemake.config["device"]\n')
    assert _config_reads(script) == [2]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [Path(sys.executable).parent / "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_python_is_ruff_formatted():
    """`ruff format` (configured in pyproject.toml) would change no file."""
    res = _ruff("format", "--check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_check_reports_nothing():
    """`ruff check` (pyproject.toml's rules: pycodestyle, pyflakes, import order, pyupgrade) finds nothing."""
    res = _ruff("check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_finds_an_unformatted_file_and_an_unused_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx = {'a':1}\n")
    assert _ruff("format", "--check", str(bad)).returncode == 1
    assert "F401" in _ruff("check", "--no-cache", "--isolated", "--select", "F", str(bad)).stdout
