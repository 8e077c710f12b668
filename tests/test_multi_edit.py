"""Several instrument words of one prompt (issue 16): the per-word rule on synthetic traces, the word-by-word
schedule in one resumed run (= an uninterrupted run with the same prompt changes), the multi-word prompt swap,
and `difftone edit --source a,b --target c,d` with its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.cli import main
from difftone.config import ConfigError, check_config, validate_config
from difftone.engine import (
    EditOptions,
    Editor,
    StrategyError,
    SwapError,
    Trace,
    choose_swap,
    edit_words,
    presence_changes,
    strategy_options,
    strategy_spec,
    swap_instruments,
)
from difftone.models import load_backbone

torch.set_num_threads(1)

N, DUR, CFG, SEED = 6, 1.0, 4.0, 7
PROMPT = "A jazz duet for piano and trumpet"
CLASSES = ["pia", "tru", "org", "sax"]


def trace_of(p_pia, p_tru):
    """A trace whose probabilities of pia and tru follow the given lists (the rest shared by org and sax)."""
    p_pia, p_tru = np.asarray(p_pia, float), np.asarray(p_tru, float)
    rest = (1 - p_pia - p_tru) / 2
    return Trace(CLASSES, np.stack([p_pia, p_tru, rest, rest], axis=1))


def choose(trace, source, strategy="presence", policy="midpoint", options=None):
    return choose_swap(
        strategy, trace, len(trace.probs), np.random.default_rng(0), policy, source=source, options=options
    )


# -- the per-word rule ------------------------------------------------------------------------------
def test_presence_is_the_last_crossing_of_that_instruments_probability():
    trace = trace_of([0.1, 0.6, 0.3, 0.7, 0.8, 0.9], [0.1, 0.1, 0.2, 0.1, 0.2, 0.6])
    assert presence_changes(trace, "pia", 0.5) == [1, 2, 3]
    assert presence_changes(trace, "tru", 0.5) == [5]
    pia, tru = choose(trace, "pia", "presence:0.5"), choose(trace, "tru", "presence:0.5")
    assert (pia.step, tru.step) == (3, 5) and not pia.fallback and not tru.fallback
    assert pia.reason == "last step where p(pia) crosses 0.5: step 3 (0.30 -> 0.70, rises above; 3 crossing(s))"
    assert "falls below" in choose(trace_of([0.9, 0.9, 0.2, 0.2, 0.2, 0.2], [0.05] * 6), "pia").reason
    assert choose(trace, "tru").step == 5 and presence_changes(trace, "tru", 0.3) == [5]  # default 0.3


def test_presence_threshold_comes_from_the_argument_then_the_config_key():
    trace = trace_of([0.1, 0.25, 0.35, 0.45, 0.55, 0.65], [0.1] * 6)
    assert choose(trace, "pia").step == 2  # default 0.3
    assert choose(trace, "pia", options={"presence_threshold": 0.5}).step == 4
    assert choose(trace, "pia", "presence:0.4", options={"presence_threshold": 0.5}).step == 3
    spec = strategy_spec("presence")
    assert spec.needs_trace and spec.can_fall_back
    assert strategy_options("presence", {"swap": {"presence_threshold": 0.3, "no_change_policy": "skip"}}) == {
        "presence_threshold": 0.3,
        "no_change_policy": "skip",
    }
    with pytest.raises(StrategyError, match=r"presence:T needs a probability T in \(0, 1\)"):
        choose(trace, "pia", "presence:1.5")


@pytest.mark.parametrize("policy, step", [("midpoint", 3), ("no_edit", 6), ("skip", None)])
def test_presence_never_crossing_falls_back_with_its_reason(policy, step):
    choice = choose(trace_of([0.2] * 6, [0.1] * 6), "pia", policy=policy)
    assert choice.fallback and choice.step == step
    assert choice.reason.startswith("p(pia) never crossed 0.3 (below at all 6 steps, 0.20..0.20); policy " + policy)


def test_presence_needs_the_words_instrument_and_a_class_for_it():
    trace = trace_of([0.2] * 6, [0.1] * 6)
    with pytest.raises(StrategyError, match="pass the source instrument"):
        choose(trace, None)
    with pytest.raises(StrategyError, match="the classifier has no class 'vio'"):
        choose(trace, "vio")


# -- the multi-word prompt swap -----------------------------------------------------------------------
def test_several_words_swap_at_once_on_the_original_prompt():
    assert swap_instruments(PROMPT, [("piano", "organ"), ("tru", "sax")]) == "A jazz duet for organ and saxophone"
    assert swap_instruments("A piano and a trumpet", [("pia", "tru"), ("tru", "org")]) == "A trumpet and an organ"
    assert (
        swap_instruments("An acoustic guitar and an electric guitar", [("gac", "pia"), ("gel", "org")])
        == "A piano and an organ"
    )
    with pytest.raises(SwapError, match="the word 'guitar' could name gac or gel"):
        swap_instruments("acoustic guitar, electric guitar and a guitar", [("gac", "pia"), ("gel", "org")])


# -- one resumed run, word by word ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def backbone():
    return load_backbone("tiny")


@pytest.fixture(scope="module")
def source(backbone):
    clf = tiny_latent_classifier(backbone.latent_channels, CLASSES, seed=0)
    traj = Editor(backbone, clf, progress=False).generate(PROMPT, SEED, N, DUR, CFG)
    # a classifier that decides pia at step 2 and tru at step 4
    traj.trace = trace_of([0.1, 0.2, 0.6, 0.7, 0.7, 0.8], [0.1, 0.1, 0.1, 0.2, 0.6, 0.6])
    return traj


def test_two_swaps_at_different_steps_equal_an_uninterrupted_run_with_the_same_prompt_changes(backbone, source):
    editor = Editor(backbone, progress=False)
    record = edit_words(editor, source, [("piano", "organ"), ("trumpet", "saxophone")], "presence")
    assert [(w.source, w.target, w.swap_step) for w in record.words] == [("pia", "org", 2), ("tru", "sax", 4)]
    assert record.schedule == [(2, "A jazz duet for organ and trumpet"), (4, "A jazz duet for organ and saxophone")]
    assert record.swap_step == 2 and record.sigma == source.sigmas[2] and record.nfe == N - 2 == editor.nfe
    assert record.target_prompt == "A jazz duet for organ and saxophone"
    assert [w.sigma for w in record.words] == [source.sigmas[2], source.sigmas[4]]
    full = Editor(backbone, progress=False).sample(
        [PROMPT],
        [SEED],
        N,
        DUR,
        CFG,
        changes=[(2, ["A jazz duet for organ and trumpet"]), (4, ["A jazz duet for organ and saxophone"])],
    )[0]
    assert torch.allclose(record.audio, full, atol=1e-5)
    one = Editor(backbone, progress=False).sample(
        [PROMPT], [SEED], N, DUR, CFG, changes=[(2, ["A jazz duet for organ and saxophone"])]
    )[0]
    assert not torch.allclose(record.audio, one, atol=1e-4)  # the second word's own step matters


def test_shared_steps_are_one_change_and_a_kept_word_is_not_swapped(backbone, source):
    shared = edit_words(Editor(backbone, progress=False), source, [("pia", "org"), ("tru", "sax")], "midpoint")
    assert shared.schedule == [(3, "A jazz duet for organ and saxophone")] and shared.nfe == N - 3
    single = edit_words(Editor(backbone, progress=False), source, [("pia", "org"), ("tru", "sax")], "difftone")
    assert len({w.swap_step for w in single.words}) == 1  # the single-instrument rule: one step for both words
    source.trace = trace_of([0.1, 0.2, 0.6, 0.7, 0.7, 0.8], [0.1] * 6)  # tru never crosses
    try:
        kept = edit_words(
            Editor(backbone, progress=False),
            source,
            [("pia", "org"), ("tru", "sax")],
            "presence",
            EditOptions(no_change_policy="no_edit"),
        )
        assert kept.schedule == [(2, "A jazz duet for organ and trumpet")] and kept.fallback
        skipped = edit_words(
            Editor(backbone, progress=False),
            source,
            [("pia", "org"), ("tru", "sax")],
            "presence",
            EditOptions(no_change_policy="skip"),
        )
        assert skipped.skipped and skipped.audio is None and skipped.nfe == 0 and "tru" in skipped.reason
    finally:
        source.trace = trace_of([0.1, 0.2, 0.6, 0.7, 0.7, 0.8], [0.1, 0.1, 0.1, 0.2, 0.6, 0.6])


def test_bad_word_lists_fail_before_any_evaluation(backbone, source):
    editor = Editor(backbone, progress=False)
    with pytest.raises(SwapError, match="the source instruments name pia twice"):
        edit_words(editor, source, [("pia", "org"), ("piano", "sax")], "midpoint")
    with pytest.raises(SwapError, match="does not contain the source instrument vio"):
        edit_words(editor, source, [("pia", "org"), ("vio", "sax")], "midpoint")
    assert editor.nfe == 0


# -- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "multi, message",
    [
        (
            {"edits": [[["pia", "pia"], ["org", "sax"]]]},
            r"multi.edits\[0\]: the source duet \['pia', 'pia'\] names one",
        ),
        ({"edits": [[["pia", "tru"], ["pia", "sax"]]]}, "swaps pia for itself"),
        ({"edits": [[["pia", "tru"], ["org", "sax"]]], "strategies": ["sideways"]}, "multi.strategies: unknown swap"),
    ],
)
def test_bad_multi_config_is_named(multi, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validate_config({"multi": multi}))


# -- the CLI ------------------------------------------------------------------------------------------
BASE = ["edit", "--prompt", PROMPT, "--seed", "7", "--model", "tiny", "--steps", "4", "--duration", "1.0"]


def test_cli_two_swaps_write_each_words_step_sigma_and_reason(tmp_path):
    out = tmp_path / "out"
    assert main(["-q", *BASE, "--source", "piano,trumpet", "--target", "organ,sax", "-o", str(out)]) == 0
    record = json.loads((out / "edit.json").read_text())
    assert record["strategy"] == "presence"  # per-word Diff-TONE is the default for several words
    assert (record["source"], record["target"]) == (["pia", "tru"], ["org", "sax"])
    assert record["target_prompt"] == "A jazz duet for organ and saxophone"
    words = record["words"]
    assert [(w["source"], w["target"]) for w in words] == [("pia", "org"), ("tru", "sax")]
    sigmas = record["trace"]["sigmas"]
    for w in words:
        assert isinstance(w["swap_step"], int) and w["sigma"] == pytest.approx(sigmas[w["swap_step"]])
        assert "p(" + w["source"] + ")" in w["reason"]
    assert record["swap_step"] == min(w["swap_step"] for w in words)
    assert record["schedule"][-1] == [max(w["swap_step"] for w in words), "A jazz duet for organ and saxophone"]
    assert record["nfe"]["edit"] == 4 - record["swap_step"] and (out / "edit.wav").is_file()
    fixed = tmp_path / "fixed"
    assert (
        main(["-q", *BASE, "--source", "pia,tru", "--target", "org,sax", "--strategy", "fixed:1", "-o", str(fixed)])
        == 0
    )
    record = json.loads((fixed / "edit.json").read_text())
    assert [w["swap_step"] for w in record["words"]] == [1, 1] and record["schedule"] == [
        [1, "A jazz duet for organ and saxophone"]
    ]


@pytest.mark.parametrize(
    "source, target, message",
    [
        (
            "piano,trumpet",
            "organ",
            "--source names 2 instrument(s) but --target 1: give one target per source, in order",
        ),
        ("piano,violin", "organ,sax", f"prompt '{PROMPT}' does not contain the source instrument vio"),
        ("piano,pia", "organ,sax", "--source names pia twice; name each instrument once"),
        ("piano,trumpet", "organ,organ", "--target names org twice; name each instrument once"),
        ("piano,trumpet", "organ,trumpet", "--source and --target are the same instrument (tru)"),
        ("piano,,trumpet", "organ,sax", "has an empty name"),
    ],
)
def test_cli_bad_word_lists_get_one_message(tmp_path, capsys, source, target, message):
    assert main([*BASE, "--source", source, "--target", target, "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
