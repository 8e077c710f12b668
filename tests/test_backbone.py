"""The backbone interface (difftone.models.backbone) on SAO: conditioning, schedules of several swaps,
injected noise, gradients through one guided evaluation."""

from __future__ import annotations

import pytest
import torch

from difftone.engine import EditError, Editor, conditioning_at
from difftone.models import Backbone, Schedule, load_backbone
from difftone.models.sao import SharedSeedNoise, make_noise_sampler, noise_bounds

torch.set_num_threads(1)

N, DUR, CFG, SEED = 6, 1.0, 4.0, 7
PROMPT, TARGET, OTHER = "A soft piano melody", "A soft violin melody", "A soft organ melody"
EXACT = dict(atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("tiny")


@pytest.fixture(scope="module")
def editor(backbone):
    return Editor(backbone, progress=False)


@pytest.fixture(scope="module")
def source(editor):
    return editor.generate(PROMPT, SEED, N, DUR, CFG)


def test_sao_implements_the_interface(backbone):
    assert isinstance(backbone, Backbone) and isinstance(backbone.new_schedule(N), Schedule)
    assert backbone.denoiser is backbone.transformer
    schedule = backbone.new_schedule(N)
    assert len(schedule.sigmas) == N + 1 and schedule.sigmas[-1] == 0.0 and len(schedule.timesteps) == N


def test_conditioning_is_batch_first_indexable_and_shiftable(backbone, editor):
    cond = editor.encode([PROMPT, TARGET, OTHER], DUR)
    assert len(cond) == 3 and len(cond[1]) == 1 and len(cond[1:]) == 2
    assert torch.equal(cond[1].text, cond.text[1:2])
    assert torch.equal(type(cond).cat([cond[0], cond[2]]).seconds_end, cond.seconds_end[[0, 2]])
    assert len(cond[0].expand(4)) == 4
    shifted = cond.replace(text=cond.text + 0.5)
    x = backbone.initial_noise([SEED] * 3)
    schedule = backbone.new_schedule(N)
    a = backbone.predict(x, 2, schedule, cond, CFG).x0_hat
    b = backbone.predict(x, 2, schedule, shifted, CFG).x0_hat
    assert float((a - b).abs().max()) > 1e-4  # the shifted text embedding changes the prediction


def test_a_schedule_of_two_swaps_resumed_from_the_cache_equals_the_uninterrupted_run(editor, source):
    changes = [(2, [TARGET]), (4, [OTHER])]
    resumed = editor.resume(source, changes)[0]
    uninterrupted = editor.sample([PROMPT], [SEED], N, DUR, CFG, changes=changes)[0]
    assert torch.allclose(resumed, uninterrupted, **EXACT)
    one_swap = editor.edit_at(source, [TARGET], [2])[0]
    assert float((resumed - one_swap).abs().max()) > 1e-6  # the second swap changes the audio
    assert torch.allclose(editor.resume(source, [(2, [TARGET])])[0], one_swap, **EXACT)


def test_conditioning_schedule_checks():
    with pytest.raises(EditError, match="increasing steps"):
        conditioning_at([(3, "a"), (1, "b")], 0, 6)
    with pytest.raises(EditError, match="after the run's start"):
        conditioning_at([(3, [1])], 2, 6)
    assert conditioning_at([(0, [1]), (2, [2]), (4, [3])], 1, 6) == [[1], [2], [2], [3], [3]]


def test_injected_noise_replaces_the_brownian_tree(backbone, editor, source):
    x = source.latents[2].unsqueeze(0)
    prev = source.x0_hat[1].unsqueeze(0)
    schedule = backbone.new_schedule(N)
    tree = make_noise_sampler(schedule.scheduler, x, [SEED])
    noise = {i: tree(schedule.scheduler.sigmas[i], schedule.scheduler.sigmas[i + 1]) for i in range(2, N)}
    cond = editor.encode([TARGET], DUR)
    frames = source.latent_frames
    own = editor.denoise(x, cond, [SEED], N, CFG, frames, start=2, prev_x0=prev).latents
    injected = editor.denoise(x, cond, [SEED], N, CFG, frames, start=2, prev_x0=prev, noise=noise).latents
    assert torch.allclose(own, injected, **EXACT)
    zero = editor.denoise(
        x, cond, [SEED], N, CFG, frames, start=2, prev_x0=prev, noise={i: torch.zeros_like(x) for i in range(2, N)}
    ).latents
    assert float((zero - own).abs().max()) > 1e-4


def test_shared_seed_noise_is_diffusers_brownian_tree_noise_item_for_item(backbone):
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    schedule = backbone.new_schedule(N)
    sigmas = schedule.scheduler.sigmas
    lo, hi = noise_bounds(schedule.scheduler)
    seeds = [7, 3, 7, 7, 11, 3]  # repeated seeds: the edits of one source, sources of one seed
    x = torch.zeros(len(seeds), backbone.latent_channels, 5)
    SharedSeedNoise._trees.clear()
    shared = make_noise_sampler(schedule.scheduler, x, seeds)
    for i in [3, 0, 3, N - 1, 1]:  # out of order and repeated, as resumed edits query
        stock = BrownianTreeNoiseSampler(x, lo, hi, seed=seeds)(sigmas[i], sigmas[i + 1])
        assert torch.equal(shared(sigmas[i], sigmas[i + 1]), stock)
    assert len(SharedSeedNoise._trees) == 3  # one tree per distinct seed
    again = make_noise_sampler(schedule.scheduler, x[:2], [11, 7])  # a later batch reuses the kept answers
    assert torch.equal(
        again(sigmas[2], sigmas[3]), BrownianTreeNoiseSampler(x[:2], lo, hi, seed=[11, 7])(sigmas[2], sigmas[3])
    )
    with pytest.raises(ValueError, match="2 seeds for a batch of 6"):
        make_noise_sampler(schedule.scheduler, x, [1, 2])


def test_one_guided_evaluation_takes_a_gradient_step_on_the_latent(backbone, editor, source):
    schedule = backbone.new_schedule(N)
    cond = editor.encode([TARGET], DUR)
    x = source.latents[3].unsqueeze(0).clone().requires_grad_(True)
    with torch.enable_grad():
        prediction = backbone.predict(x, 3, schedule, cond, CFG)
        loss = (prediction.x0_hat - source.x0_hat[3]).pow(2).mean()
        loss.backward()
    loss = float(loss.detach())
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with torch.no_grad():
        moved = x - 0.1 * x.grad
        after = backbone.predict(moved, 3, schedule, cond, CFG)
    assert float((after.x0_hat - source.x0_hat[3]).pow(2).mean()) < loss
