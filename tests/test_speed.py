"""Issue 17 (GPU speed) on the tiny model: the classifier trace read in one batched call after the run equals
the per-step reading; a recorded run copies to the host once; edits of several sources batched together equal
the edits one by one (NFE and DiT calls counted); ``model.window: duration``; the float16 trajectory cache
(size and resume tolerance); ``model.compile`` (slow: the compile itself takes minutes of CPU).

Tolerances (float32 on CPU): the batched trace equals the per-step one to 1e-6 (only the batch differs);
batching different sources together changes float rounding only (1e-5, as tests/test_engine.py); an edit
resumed from a float16 cache differs from the uninterrupted run by at most ``FP16_RESUME_ATOL`` = 1e-4 on audio
of peak ~0.44 (measured: 1.7e-5 to 2.8e-5 at 6 and 30 steps, full and duration windows); compiled vs eager:
1e-4 (inductor fuses and reorders float ops).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.engine import ClassifierHook, Editor, Trajectory, edit
from difftone.models import load_sao

torch.set_num_threads(1)

N, DUR, CFG = 6, 1.0, 4.0
PIANO, ORGAN = "A soft piano melody", "A gentle organ melody"
VIOLIN, CELLO = "A soft violin melody", "A gentle cello melody"
CODES = ["pia", "vio", "org", "cel"]
FP16_RESUME_ATOL = 1e-4


@pytest.fixture(scope="module")
def backbone(tiny_components):
    return tiny_components


@pytest.fixture(scope="module")
def classifier(backbone):
    return tiny_latent_classifier(backbone.latent_channels, CODES)


@pytest.fixture(scope="module")
def editor(backbone, classifier):
    return Editor(backbone, classifier, progress=False)


@pytest.fixture(scope="module")
def sources(editor):
    return editor.generate([PIANO, ORGAN], [7, 3], N, DUR, CFG)


def max_diff(a, b) -> float:
    return float((a - b).abs().max())


def test_the_batched_trace_equals_the_per_step_reading(editor, classifier, sources, backbone):
    frames = backbone.frames_for(DUR)
    for traj in sources:
        hook = ClassifierHook(classifier)
        for i in range(N):  # what the hook read inside the loop before issue 17
            hook(i, traj.sigmas[i], traj.x0_hat[i].unsqueeze(0)[:, :, :frames])
        per_step = hook.traces()[0]
        assert traj.trace.top1 == per_step.top1
        assert np.allclose(traj.trace.probs, per_step.probs, atol=1e-6, rtol=0)
        assert traj.trace.sigmas == per_step.sigmas
    assert editor.classifier_hook.calls >= 1  # one batched call per generation, not N
    calls = editor.classifier_hook.calls
    editor.generate(PIANO, 7, N, DUR, CFG)
    assert editor.classifier_hook.calls == calls + 1


def test_a_small_trace_batch_gives_the_same_trace(backbone, classifier, sources):
    small = Editor(backbone, classifier, progress=False, trace_batch=4)  # N = 6 steps: two chunks
    traj = small.generate(PIANO, 7, N, DUR, CFG)
    assert np.allclose(traj.trace.probs, sources[0].trace.probs, atol=1e-6, rtol=0)


def test_a_recorded_run_copies_to_the_host_once(backbone, monkeypatch):
    editor = Editor(backbone, progress=False, cache_dtype="float16")
    copies = []
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(
        torch.Tensor, "cpu", lambda self, *a, **k: copies.append(tuple(self.shape)) or real_cpu(self, *a, **k)
    )
    x = editor.initial_latents([7], DUR)
    result = editor.denoise(x, editor.encode([PIANO], DUR), [7], N, CFG, backbone.frames_for(DUR), record=True)
    w = backbone.window_for(DUR)
    assert copies == [(1, N + 1, backbone.latent_channels, w), (1, N, backbone.latent_channels, w)]
    assert result.states.dtype == result.x0_hat.dtype == torch.float16
    assert result.states.device.type == "cpu"


def test_edits_of_several_sources_at_one_step_share_a_batch(backbone, sources):
    piano, organ = sources
    jobs = [(piano, [VIOLIN, CELLO], [3, 2]), (organ, [VIOLIN, CELLO, VIOLIN], [3, 3, None])]
    editor = Editor(backbone, progress=False)
    batched = editor.edit_at(*zip(*jobs))
    # step 3: piano->violin, organ->violin, organ->cello in one batch; step 2: piano->cello
    assert editor.nfe == 3 * (N - 3) + (N - 2)
    assert editor.calls == (N - 3) + (N - 2)
    assert batched[1][2] is None
    alone = Editor(backbone, progress=False)
    for (traj, prompts, steps), waves in zip(jobs, batched):
        for prompt, k, wave in zip(prompts, steps, waves):
            if k is not None:
                assert torch.allclose(wave, alone.edit_at(traj, [prompt], [k])[0], atol=1e-5, rtol=0)
    assert max_diff(batched[0][0], batched[1][0]) > 1e-5  # different sources, different edits

    capped = Editor(backbone, progress=False, batch_size=2)  # edits.batch_size: 3 edits at step 3 -> 2 + 1
    again = capped.edit_at(*zip(*jobs))
    assert capped.nfe == editor.nfe and capped.calls == 2 * (N - 3) + (N - 2)
    assert all(
        torch.allclose(a, b, atol=1e-5, rtol=0) for x, y in zip(again, batched) for a, b in zip(x, y) if a is not None
    )


def test_editing_several_sources_gives_the_records_of_each_alone_batched_across_sources(backbone, sources):
    editor = Editor(backbone, progress=False)
    jobs = [(sources[0], "pia", "pia_000_7"), (sources[1], "org", "org_000_3")]
    trajs, codes, items = zip(*jobs)
    records = edit(editor, trajs, codes, lambda s: [t for t in ("vio", "cel") if t != s], "midpoint", item=items)
    assert editor.calls == N - N // 2  # 4 edits at the midpoint: one batch per step
    for (traj, source, item), recs in zip(jobs, records):
        one = edit(Editor(backbone, progress=False), traj, source, ["vio", "cel"], "midpoint", item=item)
        assert [(r.target, r.swap_step, r.nfe) for r in recs] == [(r.target, r.swap_step, r.nfe) for r in one]
        assert all(torch.allclose(a.audio, b.audio, atol=1e-5, rtol=0) for a, b in zip(recs, one))


def test_sources_of_other_settings_are_not_batched_together(backbone, sources):
    from difftone.engine import EditError

    short = Editor(backbone, progress=False).generate(PIANO, 7, N, 0.5, CFG)
    editor = Editor(backbone, progress=False)
    out = editor.edit_at([sources[0], short], [[VIOLIN], [VIOLIN]], [[3], [3]])  # two batches (durations differ)
    assert editor.calls == 2 * (N - 3)
    assert out[1][0].shape[-1] == int(0.5 * backbone.sample_rate)
    with pytest.raises(EditError, match="must share steps, duration"):
        editor.resume([sources[0], short], [(3, [VIOLIN, VIOLIN])])


@pytest.fixture(scope="module")
def duration_backbone():
    return load_sao("tiny", window="duration", window_margin=4)


def test_window_duration_denoises_the_duration_plus_the_margin(backbone, duration_backbone, classifier):
    frames = backbone.frames_for(DUR)
    assert backbone.window_for(DUR) == backbone.window_frames == 256  # full: unchanged
    assert duration_backbone.window_for(DUR) == frames + 4 == 26
    assert duration_backbone.window_for(100.0) == 256  # never past the DiT's window
    editor = Editor(duration_backbone, classifier, progress=False)
    traj = editor.generate(PIANO, 7, N, DUR, CFG)
    assert traj.latents.shape == (N + 1, backbone.latent_channels, frames + 4) and traj.window == "duration"
    assert traj.x0_hat.shape == (N, backbone.latent_channels, frames + 4)
    assert traj.audio.shape == (2, int(DUR * backbone.sample_rate)) and traj.trace.steps == N
    # x_0 is the first frames of the full window's noise
    assert torch.equal(duration_backbone.initial_noise([7], 26), backbone.initial_noise([7])[:, :, :26])
    edited = editor.edit_at(traj, [VIOLIN], [3])[0]
    again = editor.sample([PIANO], [7], N, DUR, CFG, changes=[(3, [VIOLIN])])[0]
    assert torch.allclose(edited, again, atol=1e-6, rtol=0)  # the cache resumes in the duration window too
    full = Editor(backbone, progress=False).sample([PIANO], [7], N, DUR, CFG)[0]
    assert max_diff(full, Editor(duration_backbone, progress=False).sample([PIANO], [7], N, DUR, CFG)[0]) > 1e-6


def test_a_full_window_editor_refuses_nothing_a_duration_cache_needs(backbone, duration_backbone):
    """A duration-window cache resumes on a full-window backbone (the width is the cache's); a full cache cut
    short is another model's."""
    import dataclasses

    from difftone.engine import EditError

    traj = Editor(duration_backbone, progress=False).generate(PIANO, 7, N, DUR, CFG)
    same = Editor(backbone, progress=False).edit_at(traj, [VIOLIN], [3])[0]
    assert torch.allclose(same, Editor(duration_backbone, progress=False).edit_at(traj, [VIOLIN], [3])[0], atol=1e-6)
    cut = dataclasses.replace(traj, window="full")
    with pytest.raises(EditError, match="was made by another model"):
        Editor(backbone, progress=False).check_trajectory(cut)


def test_a_bad_window_is_a_clear_error():
    from difftone.models import ModelLoadError

    with pytest.raises(ModelLoadError, match="model.window must be one of full, duration, got 'half'"):
        load_sao("tiny", window="half")
    with pytest.raises(ModelLoadError, match="model.window_margin_frames must be >= 0"):
        load_sao("tiny", window="duration", window_margin=-1)


def test_the_float16_cache_is_at_least_4x_smaller_and_resumes_within_tolerance(backbone, duration_backbone, tmp_path):
    full32 = Editor(backbone, progress=False).generate(PIANO, 7, N, DUR, CFG)
    dur16 = Editor(duration_backbone, progress=False, cache_dtype="float16").generate(PIANO, 7, N, DUR, CFG)
    full16 = Editor(backbone, progress=False, cache_dtype="float16").generate(PIANO, 7, N, DUR, CFG)

    def cache_bytes(traj, name):
        folder = traj.save(tmp_path / name)
        loaded = Trajectory.load(folder)
        return sum(t.numel() * t.element_size() for t in (loaded.latents, loaded.x0_hat)), loaded

    b32, _ = cache_bytes(full32, "full32")
    b16, loaded16 = cache_bytes(full16, "full16")
    bdur, loaded_dur = cache_bytes(dur16, "dur16")
    assert b32 == 2 * N * backbone.latent_channels * 256 * 4 + backbone.latent_channels * 256 * 4  # (2N+1) slabs
    assert b16 * 2 == b32 and b32 / bdur >= 4  # 256 / 26 frames x 2 here; 1024 / 224 x 2 = 9.1x for SAO at 10 s
    assert loaded16.latents.dtype == torch.float16 and loaded_dur.window == "duration"
    for traj, editor in (
        (loaded16, Editor(backbone, progress=False)),
        (loaded_dur, Editor(duration_backbone, progress=False)),
    ):
        for k in (1, N // 2, N - 1):
            cached = editor.edit_at(traj, [VIOLIN], [k])[0]
            uninterrupted = editor.sample([PIANO], [7], N, DUR, CFG, changes=[(k, [VIOLIN])])[0]
            assert max_diff(cached, uninterrupted) <= FP16_RESUME_ATOL
    exact = Editor(backbone, progress=False)
    assert torch.allclose(
        exact.edit_at(full32, [VIOLIN], [2])[0],
        exact.sample([PIANO], [7], N, DUR, CFG, changes=[(2, [VIOLIN])])[0],
        atol=1e-6,
        rtol=0,
    )  # float32 stays exact


def test_a_bad_cache_dtype_is_a_clear_error(backbone):
    from difftone.engine import EditError

    with pytest.raises(EditError, match="generation.cache_dtype must be one of float32, float16, got 'int8'"):
        Editor(backbone, cache_dtype="int8")
    with pytest.raises(EditError, match="edits.batch_size must be at least 1"):
        Editor(backbone, batch_size=0)


@pytest.mark.slow
def test_the_compiled_dit_gives_the_eager_audio():
    """model.compile on the tiny model: torch.compile (inductor, CPU) of the DiT and the classifier."""
    from difftone.models.loader import compile_module

    eager_bb, compiled_bb = load_sao("tiny"), load_sao("tiny", compile=True)
    clf = tiny_latent_classifier(eager_bb.latent_channels, CODES)
    eager = Editor(eager_bb, clf, progress=False).generate(PIANO, 7, 3, 0.5, CFG)
    compiled = Editor(
        compiled_bb, compile_module(tiny_latent_classifier(eager_bb.latent_channels, CODES)), progress=False
    ).generate(PIANO, 7, 3, 0.5, CFG)
    assert hasattr(compiled_bb.transformer, "_compiled_call_impl") and compiled_bb.transformer._compiled_call_impl
    assert torch.allclose(compiled.audio, eager.audio, atol=1e-4, rtol=0)
    assert np.allclose(compiled.trace.probs, eager.trace.probs, atol=1e-4)
    assert max_diff(compiled.audio, eager.audio) < 1e-4
