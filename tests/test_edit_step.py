"""The one edit step (difftone.engine.edit): records, NFE with probes, fallback, strategy specs
driving behaviour, and that no other module chooses swap steps or calls Editor.edit_at."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.engine import (
    SPECS,
    STRATEGIES,
    EditOptions,
    Editor,
    StrategyError,
    edit,
    register_strategy,
    strategy_options,
    strategy_spec,
    validate_strategy,
)

torch.set_num_threads(1)

N, DUR, CFG, SEED = 6, 1.0, 4.0, 7
PROMPT = "A soft piano melody"
SRC = Path(__file__).resolve().parents[1] / "src" / "difftone"


@pytest.fixture(scope="module")
def backbone(tiny_components):
    return tiny_components


@pytest.fixture(scope="module")
def classifier(backbone):
    return tiny_latent_classifier(backbone.latent_channels, ["pia", "vio", "org"], seed=0)


@pytest.fixture(scope="module")
def source(backbone, classifier):
    return Editor(backbone, classifier, progress=False).generate(PROMPT, SEED, N, DUR, CFG)


def test_records_carry_step_sigma_nfe_and_audio(backbone, source):
    editor = Editor(backbone, progress=False)
    nfe0 = editor.nfe
    records = edit(editor, source, "pia", ["vio", "org"], "fixed:4", item="x")
    assert [r.target for r in records] == ["vio", "org"]
    assert [r.target_prompt for r in records] == ["A soft violin melody", "A soft organ melody"]
    assert all(
        r.swap_step == 4
        and r.sigma == source.sigmas[4]
        and r.nfe == N - 4
        and r.probe_nfe == 0
        and not r.fallback
        and r.audio.shape == source.audio.shape
        for r in records
    )
    assert editor.nfe - nfe0 == sum(r.nfe for r in records)
    alone = editor.edit_at(source, ["A soft violin melody"], [4])[0]
    assert torch.allclose(records[0].audio, alone, atol=1e-5)


@pytest.mark.parametrize("policy, step", [("midpoint", N // 2), ("no_edit", N), ("skip", None)])
def test_fallback_is_recorded_when_the_no_change_policy_decides(backbone, source, policy, step):
    flat = type(source.trace)(source.trace.instruments, source.trace.probs[:1].repeat(N, axis=0))
    traj = type(source)(**{**vars(source), "trace": flat})  # a classifier that never changes its mind
    record = edit(
        Editor(backbone, progress=False), traj, "pia", ["vio"], "difftone", EditOptions(no_change_policy=policy)
    )[0]
    assert record.fallback and record.swap_step == step and f"policy {policy}" in record.reason
    assert (record.audio is None) == (step is None) and record.nfe == (0 if step is None else N - step)
    assert not edit(Editor(backbone, progress=False), source, "pia", ["vio"], "midpoint")[0].fallback


def test_probe_nfe_is_counted_in_the_record(backbone, source, classifier):
    editor = Editor(backbone, progress=False)
    nfe0 = editor.nfe
    record = edit(editor, source, "pia", ["vio"], "probe", EditOptions(probe_classifier=classifier))[0]
    assert record.probe_nfe > 0 and record.nfe == N - record.swap_step + record.probe_nfe
    assert editor.nfe - nfe0 == record.nfe
    with pytest.raises(StrategyError, match="probes the target prompt with the latent classifier"):
        edit(editor, source, "pia", ["vio"], "probe")


def test_a_new_strategy_gets_what_its_spec_asks_for_without_a_name_check(backbone, source, classifier):
    seen = []

    @register_strategy(
        "first_confident",
        needs_probe=True,
        probe_classifier=True,
        can_fall_back=True,
        arg="P",
        parse=lambda arg, steps: float(arg or 0.5),
    )
    def first_confident(ctx):
        seen.append((type(ctx.probe).__name__, ctx.value))
        probs = ctx.probe(ctx.steps - 1)
        return ctx.steps - 1, f"read {max(probs, key=probs.get)}"

    try:
        spec = strategy_spec("first_confident:0.7")
        assert spec.needs_classifier and spec.config_keys == ("swap.no_change_policy",)
        assert strategy_options("first_confident", {"swap": {"no_change_policy": "skip"}}) == {
            "no_change_policy": "skip"
        }
        record = edit(
            Editor(backbone, progress=False),
            source,
            "pia",
            ["vio"],
            "first_confident:0.7",
            EditOptions(probe_classifier=classifier),
        )[0]
        assert seen == [("TargetProbe", 0.7)] and record.probe_nfe == 1 and record.nfe == 1 + 1
    finally:
        del STRATEGIES["first_confident"], SPECS["first_confident"]


def test_the_registry_validates_arguments_against_the_steps():
    assert validate_strategy("fixed:6", 6) == 6 and validate_strategy("agree") == 0.3
    with pytest.raises(StrategyError, match=r"fixed:K needs an integer K in \[0, 6\]"):
        validate_strategy("fixed:7", 6)
    with pytest.raises(StrategyError, match="unknown swap strategy 'sideways'; known: .*fixed:K"):
        validate_strategy("sideways")
    assert strategy_spec("difftone").needs_trace and not strategy_spec("agree").needs_classifier
    assert strategy_options("random", {"edits": {"random_seed": 3}}) == {"random_seed": 3}
    assert strategy_options("midpoint", {}) == {}


def _calls(path: Path) -> set[str]:
    """Names of functions/methods called in a module (``choose_swap_step(...)``, ``x.edit_at(...)``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_only_the_edit_step_chooses_swap_steps_and_calls_editor_edit_at():
    outside = [p for p in SRC.rglob("*.py") if "engine" not in p.relative_to(SRC).parts]
    assert len(outside) > 20
    offenders = {
        str(p.relative_to(SRC)): sorted(_calls(p) & {"choose_swap_step", "choose_swap", "edit_at"}) for p in outside
    }
    assert {p: c for p, c in offenders.items() if c} == {}
    engine = {p.name: _calls(p) for p in (SRC / "engine").glob("*.py")}
    assert {n for n, c in engine.items() if c & {"choose_swap", "choose_swap_step"}} <= {
        "edit_step.py",
        "strategies.py",
    }
    assert {n for n, c in engine.items() if "edit_at" in c} == {"edit_step.py"}
    # the experiment's stages edit through the edit step
    assert all("edit" in _calls(SRC / "experiment" / f"{m}.py") for m in ("edits", "swap_steps"))


def test_no_module_branches_on_a_strategy_name():
    needles = ('== "probe"', "== 'probe'", '"difftone", "probe"', '== "fixed"', 'partition(":")[0] ==')
    for path in [*SRC.rglob("*.py"), *(SRC.parents[1] / "workflow").rglob("*.smk")]:
        if path.name == "strategies.py":
            continue
        text = path.read_text()
        assert not [n for n in needles if n in text], path
