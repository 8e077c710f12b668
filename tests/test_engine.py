"""The editing engine: pipeline equivalence, resume = uninterrupted swap, batching, NFE,
the trajectory cache, the classifier hook, strategies and the prompt swap.

Tolerances: the loop runs the pipeline's own operations in the same order, so on CPU
in float32 results are equal to 1e-6 (observed: exactly equal); batching different
numbers of samples may change float rounding, hence 1e-5 where batch sizes differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.engine import (
    STRATEGIES,
    EditError,
    Editor,
    StrategyError,
    SwapError,
    TargetProbe,
    Trace,
    Trajectory,
    choose_swap_step,
    needs_probe,
    noise_bounds,
    register_strategy,
    swap_instrument,
)

torch.set_num_threads(1)

N, DUR, CFG, SEED = 6, 1.0, 4.0, 7
PROMPT, TARGET, OTHER = "A soft piano melody", "A soft violin melody", "A soft organ melody"
EXACT = dict(atol=1e-6, rtol=0)
BATCHED = dict(atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def components(tiny_components):
    return tiny_components


@pytest.fixture(scope="module")
def editor(components):
    return Editor(components, tiny_latent_classifier(components.latent_channels, ["pia", "vio", "org"]), progress=False)


@pytest.fixture(scope="module")
def source(editor) -> Trajectory:
    return editor.generate(PROMPT, SEED, N, DUR, CFG)


def max_diff(a, b) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("guidance", [CFG, 1.0])
def test_no_swap_equals_the_diffusers_pipeline(components, editor, monkeypatch, guidance):
    """Same components, seed and settings: the pipeline's audio. The pipeline gets the documented
    workaround (its Brownian tree on bounds covering the schedule), as the engine uses."""
    import diffusers.schedulers.scheduling_cosine_dpmsolver_multistep as cosine
    from diffusers import StableAudioPipeline

    lo, hi = noise_bounds(components.scheduler)
    stock = cosine.BrownianTreeNoiseSampler
    monkeypatch.setattr(
        cosine, "BrownianTreeNoiseSampler", lambda x, sigma_min, sigma_max, seed=None: stock(x, lo, hi, seed=seed)
    )
    pipe = StableAudioPipeline(**components.as_pipeline_kwargs())
    pipe.set_progress_bar_config(disable=True)
    expected = pipe(
        PROMPT,
        audio_end_in_s=DUR,
        num_inference_steps=N,
        guidance_scale=guidance,
        generator=[torch.Generator().manual_seed(SEED)],
    ).audios
    ours = editor.sample([PROMPT], [SEED], N, DUR, guidance)
    assert ours.shape == expected.shape == (1, 2, int(DUR * 44100))
    assert torch.allclose(ours, expected, **EXACT)
    if guidance == CFG:
        assert torch.allclose(editor.generate(PROMPT, SEED, N, DUR, CFG).audio, expected[0], **EXACT)


@pytest.mark.parametrize("k", [1, 2, 4, N - 1])
def test_resume_at_k_equals_the_uninterrupted_run_swapping_at_k(editor, source, k):
    edited = editor.edit_at(source, [TARGET], [k])[0]
    uninterrupted = editor.sample([PROMPT], [SEED], N, DUR, CFG, changes=[(k, [TARGET])])[0]
    assert torch.allclose(edited, uninterrupted, **EXACT)
    assert max_diff(edited, source.audio) > 1e-5  # the swap changes the audio


def test_swap_at_0_is_the_target_generation_and_at_n_the_source(editor, source):
    at0, atn = editor.edit_at(source, [TARGET, TARGET], [0, N])
    target = editor.sample([TARGET], [SEED], N, DUR, CFG)[0]
    assert torch.allclose(at0, target, **EXACT)
    assert torch.equal(atn, source.audio)
    assert max_diff(target, source.audio) > 1e-5


def test_targets_with_the_same_swap_step_run_as_one_batch_and_nfe_is_counted(editor, source):
    targets = [TARGET, OTHER, "A soft cello melody", TARGET, TARGET]
    steps = [3, 3, 3, 1, 3]
    nfe0, calls0 = editor.nfe, editor.calls
    batched = editor.edit_at(source, targets, steps)
    assert editor.nfe - nfe0 == 3 * (N - 3) + (N - 1)  # an edit at k costs N - k; a repeated pair runs once
    assert torch.equal(batched[0], batched[4])
    assert editor.calls - calls0 == (N - 3) + (N - 1)  # one DiT call per step per group
    for audio, prompt, k in zip(batched, targets, steps):
        alone = editor.edit_at(source, [prompt], [k])[0]
        assert torch.allclose(audio, alone, **BATCHED)
    assert max_diff(batched[0], batched[1]) > 1e-6
    assert editor.edit_at(source, [TARGET], [None]) == [None]


def test_sources_are_independent_of_their_batch(editor, source):
    both = editor.generate([OTHER, PROMPT], [3, SEED], N, DUR, CFG)
    assert torch.allclose(both[1].audio, source.audio, **BATCHED)
    # latents reach |x| ~ 500 at sigma_max: a relative tolerance there
    assert torch.allclose(both[1].latents, source.latents, rtol=1e-5, atol=1e-4)
    assert max_diff(both[0].audio, source.audio) > 1e-5


def test_trajectory_contents_and_classifier_trace(components, source):
    frames = components.frames_for(DUR)
    assert source.latents.shape == (N + 1, components.latent_channels, components.window_frames)
    assert source.x0_hat.shape == (N, components.latent_channels, components.window_frames)
    assert source.latent_frames == frames == 22
    assert source.nfe == N
    assert len(source.sigmas) == N + 1 and source.sigmas[-1] == 0.0
    trace = source.trace
    assert trace.steps == N and trace.instruments == ["pia", "vio", "org"]
    assert np.allclose(trace.probs.sum(axis=1), 1.0)
    assert trace.sigmas == pytest.approx(source.sigmas[:N])


def test_hooks_see_x0_hat_of_the_requested_frames_only(components):
    seen = []
    editor = Editor(
        components, hooks=[lambda step, sigma, x0: seen.append((step, sigma, tuple(x0.shape)))], progress=False
    )
    trajectory = editor.generate(PROMPT, SEED, N, DUR, CFG)
    assert [s for s, _, _ in seen] == list(range(N))
    assert all(shape == (1, components.latent_channels, components.frames_for(DUR)) for _, _, shape in seen)
    assert trajectory.trace is None
    # the hook's x0_hat is the model's prediction of the clean latent: precondition_outputs(x_k, v, sigma_k)
    assert torch.allclose(trajectory.x0_hat[-1], trajectory.latents[-1], atol=1e-5)  # last step: sigma -> 0


def test_trajectory_save_load_roundtrip_and_resume(editor, source, tmp_path):
    path = source.save(tmp_path / "src" / "pia_7")
    assert sorted(p.name for p in path.iterdir()) == ["tensors.safetensors", "trajectory.json"]
    assert [p.name for p in path.parent.iterdir()] == ["pia_7"]  # no temporary folder left
    loaded = Trajectory.load(path)
    assert torch.equal(loaded.latents, source.latents) and torch.equal(loaded.x0_hat, source.x0_hat)
    assert torch.equal(loaded.audio, source.audio)
    assert loaded.trace.top1 == source.trace.top1 and np.allclose(loaded.trace.probs, source.trace.probs, atol=1e-6)
    assert (loaded.prompt, loaded.seed, loaded.steps, loaded.duration) == (PROMPT, SEED, N, DUR)
    assert torch.equal(editor.edit_at(loaded, [TARGET], [2])[0], editor.edit_at(source, [TARGET], [2])[0])
    source.save(path)  # overwriting is fine
    with pytest.raises(FileNotFoundError, match="not a trajectory folder"):
        Trajectory.load(tmp_path)


def test_bad_settings_are_refused(editor, source, components):
    with pytest.raises(EditError, match="steps must be an integer of at least 2"):
        editor.generate(PROMPT, SEED, 1, DUR, CFG)
    with pytest.raises(EditError, match="outside the model's window"):
        editor.generate(PROMPT, SEED, N, components.max_duration + 1, CFG)
    with pytest.raises(EditError, match=r"swap step 7 is outside \[0, 6\]"):
        editor.edit_at(source, [TARGET], [N + 1])
    with pytest.raises(EditError, match="2 target prompts but 1 swap steps"):
        editor.edit_at(source, [TARGET, OTHER], [1])


def test_one_source_in_gives_one_result_and_a_sequence_a_list(editor, source):
    """The engine's one rule: the first argument decides; mixes are refused before any evaluation."""
    nfe0 = editor.nfe
    for prompts, seeds, match in [
        (PROMPT, [SEED], "one prompt takes one seed"),
        ([PROMPT], SEED, "a list of prompts takes a list of seeds"),
        ([PROMPT, OTHER], [SEED], "2 prompts but 1 seeds"),
    ]:
        with pytest.raises(EditError, match=match):
            editor.generate(prompts, seeds, N, DUR, CFG)
    with pytest.raises(EditError, match="1 trajectories but 1 lists of target prompts and 2 lists of swap steps"):
        editor.edit_at([source], [[TARGET]], [[2], [3]])
    assert editor.nfe == nfe0
    listed = editor.generate([PROMPT], [SEED], N, DUR, CFG)
    assert isinstance(listed, list) and torch.equal(listed[0].audio, source.audio)
    alone = editor.edit_at(source, [TARGET, TARGET], [2, N])
    many = editor.edit_at([source, source], [[TARGET], [TARGET]], [[2], [N]])
    assert len(alone) == 2 and [len(m) for m in many] == [1, 1]
    assert torch.allclose(many[0][0], alone[0], **EXACT) and torch.equal(many[1][0], source.audio)
    one = editor.sample(PROMPT, SEED, N, DUR, CFG, changes=[(2, TARGET)])
    assert one.dim() == 2 and torch.allclose(one, alone[0], **EXACT)


# -- strategies ---------------------------------------------------------------------------------
def make_trace(top1: list[str], instruments=("pia", "vio", "org")) -> Trace:
    probs = np.full((len(top1), len(instruments)), 0.1)
    for i, code in enumerate(top1):
        probs[i, instruments.index(code)] = 0.8
    return Trace(list(instruments), probs)


def test_difftone_swaps_at_the_last_top1_change():
    trace = make_trace(["org", "vio", "vio", "pia", "vio", "pia", "pia", "pia"])
    assert trace.change_steps() == [1, 3, 4, 5]
    step, reason = choose_swap_step("difftone", trace, 8)
    assert step == 5 and "vio -> pia" in reason


@pytest.mark.parametrize("policy, expected", [("midpoint", 4), ("no_edit", 8), ("skip", None)])
def test_difftone_policy_when_the_classifier_never_changes(policy, expected):
    step, reason = choose_swap_step("difftone", make_trace(["pia"] * 8), 8, no_change_policy=policy)
    assert step == expected
    assert "never changed" in reason and f"policy {policy}" in reason


def test_other_strategies():
    assert choose_swap_step("midpoint", None, 30)[0] == 15
    assert choose_swap_step("none", None, 30)[0] == 30
    assert choose_swap_step("fixed:12", None, 30)[0] == 12
    assert choose_swap_step("fixed:0", None, 30)[0] == 0
    draws = [choose_swap_step("random", None, 10, np.random.default_rng(s))[0] for s in range(200)]
    assert set(draws) == set(range(1, 10))
    assert choose_swap_step("random", None, 10, 5) == choose_swap_step("random", None, 10, 5)
    with pytest.raises(StrategyError, match=r"fixed:K needs an integer K in \[0, 30\]"):
        choose_swap_step("fixed:31", None, 30)
    with pytest.raises(StrategyError, match="unknown swap strategy 'sideways'"):
        choose_swap_step("sideways", None, 30)
    with pytest.raises(StrategyError, match="needs the classifier trace"):
        choose_swap_step("difftone", None, 30)
    with pytest.raises(StrategyError, match="no_change_policy"):
        choose_swap_step("difftone", make_trace(["pia"] * 3), 3, no_change_policy="later")


def test_a_new_strategy_is_one_registered_function():
    @register_strategy("last_sigma_above")
    def last_sigma_above(ctx):
        k = max(i for i, s in enumerate(ctx.sigmas) if s > float(ctx.arg))
        return k, f"last sigma above {ctx.arg}"

    try:
        assert choose_swap_step("last_sigma_above:1.0", None, 4, sigmas=[500, 20, 2, 0.5, 0]) == (
            2,
            "last sigma above 1.0",
        )
    finally:
        del STRATEGIES["last_sigma_above"]


SIGMAS = [500.0, 40.0, 3.0, 0.9, 0.7, 0.5, 0.3, 0.0]  # 7 steps


@pytest.mark.parametrize("arg, expected", [("0.7", 4), ("0.75", 4), ("0.9", 3), ("1000", 0), ("0.3", 6), ("0.1", 7)])
def test_sigma_swaps_at_the_first_step_at_or_below_the_noise_level(arg, expected):
    step, reason = choose_swap_step(f"sigma:{arg}", None, 7, sigmas=SIGMAS)
    assert step == expected
    assert ("source is kept" in reason) if expected == 7 else (f"step {expected} (sigma" in reason)


def test_sigma_refuses_bad_arguments():
    with pytest.raises(StrategyError, match="sigma:S needs a noise level"):
        choose_swap_step("sigma:low", None, 7, sigmas=SIGMAS)
    with pytest.raises(StrategyError, match="needs the 7 sigmas"):
        choose_swap_step("sigma:0.7", None, 7)


class FakeProbe:
    """Reads the target (vio) on the probe at steps <= last_target, the source (pia) after."""

    def __init__(self, last_target: int | None, p_target: float = 0.6):
        self.last_target, self.p_target, self.calls = last_target, p_target, []

    def __call__(self, step):
        self.calls.append(step)
        if self.last_target is not None and step <= self.last_target:
            return {"pia": 1 - self.p_target, "vio": self.p_target}
        return {"pia": 0.9, "vio": 0.1}


def test_probe_swaps_at_the_latest_step_the_target_prompt_is_read_as_the_target():
    probe = FakeProbe(last_target=4)
    step, reason = choose_swap_step("probe", None, 8, target="vio", probe=probe)
    assert step == 4 and "step 4, 4 probe(s)" in reason
    assert probe.calls == [7, 6, 5, 4]  # scanned back from N-1, stopped at the first hit: N - k probes
    # with a probability threshold the weak reading (0.6) does not count
    step, reason = choose_swap_step("probe:0.8", None, 8, target="vio", probe=FakeProbe(4, p_target=0.6))
    assert step == 4 and "policy midpoint" in reason and "never read vio" in reason
    assert choose_swap_step("probe:0.5", None, 8, target="vio", probe=FakeProbe(2))[0] == 2


@pytest.mark.parametrize("policy, expected", [("midpoint", 4), ("no_edit", 8), ("skip", None)])
def test_probe_that_never_reads_the_target_follows_the_no_change_policy(policy, expected):
    probe = FakeProbe(last_target=None)
    step, reason = choose_swap_step("probe", None, 8, no_change_policy=policy, target="vio", probe=probe)
    assert step == expected and f"policy {policy}" in reason and len(probe.calls) == 8


def test_probe_needs_a_probe_and_a_valid_threshold():
    with pytest.raises(StrategyError, match="probes the target prompt: it needs a probe"):
        choose_swap_step("probe", None, 8)
    with pytest.raises(StrategyError, match=r"probe:P needs a probability P in \(0, 1\]"):
        choose_swap_step("probe:2", None, 8, target="vio", probe=FakeProbe(3))
    assert needs_probe("probe:0.5") and not needs_probe("difftone")


class FakeEffect:
    """prompt_effect(k) of a constructed run: the target prompt's effect on x0_hat fades with k."""

    def __init__(self, effects):
        self.effects, self.calls = effects, []

    def prompt_effect(self, step):
        self.calls.append(step)
        return self.effects[step]


def test_agree_swaps_at_the_earliest_step_from_which_the_prompts_agree_for_the_rest_of_the_run():
    # relative effect: 1.0 0.9 0.8 0.5 0.25 0.35 0.2 0.1  -> within 0.3 from step 6 on (step 4 dips, step 5 does not)
    probe = FakeEffect([2.0, 1.8, 1.6, 1.0, 0.5, 0.7, 0.4, 0.2])
    step, reason = choose_swap_step("agree", None, 8, target="vio", probe=probe)
    assert step == 6 and "agree from step 6" in reason and "step 5: 0.35" in reason
    assert probe.calls == [0, 7, 6, 5]  # step 0 for the full effect, then back from N-1: N-k+1 probes
    assert choose_swap_step("agree:0.6", None, 8, target="vio", probe=FakeEffect(probe.effects))[0] == 3
    assert choose_swap_step("agree:0.95", None, 8, target="vio", probe=FakeEffect(probe.effects))[0] == 1
    with pytest.raises(StrategyError, match=r"agree:R needs a ratio R in \(0, 1\)"):
        choose_swap_step("agree:1.5", None, 8, target="vio", probe=FakeEffect(probe.effects))


def test_agree_on_the_tiny_model_scans_back_and_counts_its_probes(editor, source):
    probe = TargetProbe(editor, None, source, TARGET)
    step, reason = choose_swap_step("agree", None, N, target="vio", probe=probe)
    assert probe.nfe == len(set(range(step - 1, N)) | {0})
    effects = [probe.prompt_effect(k) for k in range(N)]
    assert all(e <= 0.3 * effects[0] for e in effects[step:]) and (step == 1 or effects[step - 1] > 0.3 * effects[0])
    with pytest.raises(ValueError, match="no classifier"):
        probe(3)


def test_predict_x0_with_the_source_prompt_reproduces_the_cached_x0_hat_and_counts_one_nfe(editor, source):
    nfe0, calls0 = editor.nfe, editor.calls
    for k in (0, 3, N - 1):
        x0 = editor.predict_x0(source, [PROMPT, TARGET], k)
        assert x0.shape == (2, source.latents.shape[1], source.latent_frames)
        torch.testing.assert_close(x0[0], source.x0_hat[k][:, : source.latent_frames], **BATCHED)
        assert max_diff(x0[1], x0[0]) > 1e-4  # the target prompt predicts another clean latent
    assert editor.nfe - nfe0 == 3 * 2 and editor.calls - calls0 == 3
    with pytest.raises(EditError, match=r"probe step 6 is outside \[0, 5\]"):
        editor.predict_x0(source, [TARGET], N)


def test_target_probe_reads_the_classifier_once_per_step_and_counts_its_nfe(editor, source, components):
    clf = tiny_latent_classifier(components.latent_channels, ["pia", "vio", "org"], seed=1)
    probe = TargetProbe(editor, clf, source, TARGET)
    nfe0 = editor.nfe
    reading = probe(3)
    assert set(reading) == {"pia", "vio", "org"} and sum(reading.values()) == pytest.approx(1.0)
    assert probe(3) == reading and probe.nfe == 1 and editor.nfe - nfe0 == 1  # cached per step
    expected = torch.softmax(clf(editor.predict_x0(source, [TARGET], 3)), -1)[0]
    assert [reading[c] for c in clf.instruments] == pytest.approx(expected.tolist(), abs=1e-5)
    step, reason = choose_swap_step("probe", None, N, target="vio", probe=probe)
    scanned = set(range(step, N)) if "latest step" in reason else set(range(N))
    assert set(probe.readings) == scanned | {3} and probe.nfe == len(probe.readings)


# -- the prompt swap ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, source, target, expected",
    [
        ("A soft piano melody", "pia", "vio", "A soft violin melody"),
        ("Piano solo in the rain", "pia", "cel", "Cello solo in the rain"),
        ("A SOFT PIANO MELODY", "piano", "violin", "A SOFT VIOLIN MELODY"),
        ("A gentle Acoustic Guitar tune", "gac", "pia", "A gentle Piano tune"),
        ("Warm acoustic guitar chords", "gac", "org", "Warm organ chords"),
        ("A guitar riff", "gac", "sax", "A saxophone riff"),
        ("A sax solo", "sax", "flu", "A flute solo"),
        ("A piano line over an organ pad", "org", "gac", "A piano line over an acoustic guitar pad"),
        ("An organ drone", "org", "tru", "A trumpet drone"),
        ("Two pianos, one piano-like synth", "pia", "vio", "Two violins, one violin-like synth"),
    ],
)
def test_swap_instrument(prompt, source, target, expected):
    assert swap_instrument(prompt, source, target) == expected


def test_swap_keeps_other_words_and_refuses_prompts_without_the_word():
    assert swap_instrument("A pianola and a piano", "pia", "vio") == "A pianola and a violin"
    with pytest.raises(SwapError, match="'A soft organ melody' does not contain the source instrument pia"):
        swap_instrument("A soft organ melody", "pia", "vio")
    with pytest.raises(SwapError, match="unknown instrument 'kazoo'"):
        swap_instrument("A soft piano melody", "pia", "kazoo")
    assert swap_instrument("Soft keys at night", "pia", "vio", {"pia": ["keys"]}) == "Soft violin at night"
