"""Tiny fixtures that several test files use: the tiny SAO components, the tiny classifier
(object and checkpoint folder), one tiny source trajectory, and a scratch working directory
with the repository's workflow linked in. Each is built with the library's own code, as the
workflow builds it, only small."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "config.yaml", "src", "envs")

TINY_INSTRUMENTS = ["pia", "vio"]
TINY_PROMPT = "A soft piano melody"  # the tiny trajectory's prompt (source instrument pia)
TINY_STEPS, TINY_DURATION, TINY_GUIDANCE, TINY_SEED = 4, 0.5, 4.0, 0


def link_workflow(workdir: Path) -> Path:
    """``workdir`` with the repository's Snakefile, workflow, config, sources and envs linked in."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        (workdir / name).symlink_to(ROOT / name)
    return workdir


@pytest.fixture
def workflow_workdir(tmp_path) -> Path:
    """A scratch Snakemake working directory (``snakemake --directory``) for this test."""
    return link_workflow(tmp_path)


@pytest.fixture(scope="module")
def tiny_components():
    """``load_backbone("tiny")``: the real diffusers/transformers classes, small and seeded."""
    from difftone.models import load_backbone

    return load_backbone("tiny")


@pytest.fixture(scope="module")
def tiny_classifier(tiny_components):
    """The untrained latent classifier over :data:`TINY_INSTRUMENTS` (seed 0)."""
    from difftone.classifiers import tiny_latent_classifier

    return tiny_latent_classifier(tiny_components.latent_channels, TINY_INSTRUMENTS, seed=0)


@pytest.fixture(scope="module")
def tiny_classifier_dir(tiny_classifier, tmp_path_factory) -> Path:
    """:func:`tiny_classifier` saved as a checkpoint folder, as the workflow's classifiers are."""
    from difftone.classifiers.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("tiny_classifier") / "distilled"
    save_checkpoint(tiny_classifier, "latent_classifier", tiny_classifier.checkpoint_config(), folder)
    return folder


@pytest.fixture(scope="module")
def tiny_trajectory(tiny_components, tiny_classifier):
    """One source generation of :data:`TINY_PROMPT` with the classifier trace and resume cache."""
    from difftone.engine import Editor

    editor = Editor(tiny_components, tiny_classifier, progress=False)
    return editor.generate(TINY_PROMPT, TINY_SEED, TINY_STEPS, TINY_DURATION, TINY_GUIDANCE)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``fullsize`` (real-size stand-ins: GB of memory, up to an hour on 2 CPU cores) run only when a ``-m``
    expression names the marker (``pytest -m fullsize``); otherwise they are deselected, so that the default
    ``bash scripts/test.sh`` (CI) leaves them out whatever other ``-m`` it is given."""
    if "fullsize" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("fullsize") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("fullsize")])
        items[:] = kept
