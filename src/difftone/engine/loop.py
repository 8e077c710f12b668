"""The denoising loop of Stable Audio Open, written from the pipeline's parts, with hooks and swaps.

``StableAudioPipeline`` cannot change the prompt mid-run, so :class:`Editor` runs the
same steps itself: ``encode_prompt`` / ``encode_duration`` of the pipeline, initial
noise from one CPU generator per sample, the rotary embedding, the DiT with
classifier-free guidance (batch ``[uncond; cond]``, uncond all zeros), and
``CosineDPMSolverMultistepScheduler.step``. With no swap it equals the pipeline
(``tests/test_engine.py``). After every step x0_hat (``scheduler.model_outputs[-1]``)
goes to the hooks, cropped to the frames of the requested duration.

Noise: the scheduler draws its SDE noise from a Brownian tree seeded by the sample's
seed. Its sampler is pre-set with bounds ``[0, sigma_max * 1.001]`` covering the whole
schedule (diffusers builds it on ``[sigma_min, sigma_max]`` and then queries outside
it), one tree per sample: the noise of step i depends only on the seed and
``(sigma_i, sigma_{i+1})``, not on the batch or the prompt, so a run resumed at step k
equals the uninterrupted one.

NFE: ``Editor.nfe`` counts denoiser evaluations per sample and step (a CFG pair of
uncond/cond counts as one evaluation); ``Editor.calls`` counts batched DiT calls.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from difftone.engine.hooks import ClassifierHook, StepHook
from difftone.engine.trajectory import Trajectory

log = logging.getLogger(__name__)

NOISE_BOUND_MARGIN = 1e-3


class EditError(ValueError):
    """Bad generation/edit settings (steps, duration, swap steps, trajectory/model mismatch)."""


def noise_bounds(scheduler) -> tuple[float, float]:
    """The Brownian tree's interval: covers every sigma of any schedule, including 0 and sigma_max."""
    return 0.0, float(scheduler.config.sigma_max) * (1.0 + NOISE_BOUND_MARGIN)


def make_noise_sampler(scheduler, sample: torch.Tensor, seeds: Sequence[int]):
    """One Brownian tree per sample (``seeds[b]``), on :func:`noise_bounds`."""
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    lo, hi = noise_bounds(scheduler)
    return BrownianTreeNoiseSampler(sample, sigma_min=lo, sigma_max=hi, seed=[int(s) for s in seeds])


@dataclass
class Conditioning:
    """The cond half of the DiT's conditioning for a batch of prompts."""

    text: torch.Tensor  # [B, L + 2, D]: projected prompt embeddings, seconds start, seconds end
    global_states: torch.Tensor  # [B, 1, 2D]: seconds start and end

    def model_inputs(self, cfg: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if not cfg:
            return self.text, self.global_states
        return (
            torch.cat([torch.zeros_like(self.text), self.text]),
            torch.cat([self.global_states, self.global_states]),
        )


@dataclass
class DenoiseResult:
    latents: torch.Tensor  # [B, C, W] final latents
    states: list[torch.Tensor]  # x_k for k = start..N (on CPU), when recorded
    x0_hat: list[torch.Tensor]  # x0_hat of steps start..N-1 (on CPU), when recorded


class Editor:
    """Generate sources with a per-step classifier trace, and edit them by a prompt swap.

    ``components``: :class:`difftone.models.SAOComponents`; ``classifier``: a latent
    instrument classifier (``instruments``, ``[B, C, T] -> logits``) run on x0_hat at
    every step of a source generation; ``hooks``: more :class:`StepHook` callables.
    """

    def __init__(self, components, classifier: torch.nn.Module | None = None, hooks: Sequence[StepHook] = (),
                 progress: bool | None = None):
        from diffusers import StableAudioPipeline

        self.components = components
        self.classifier_hook = ClassifierHook(classifier) if classifier is not None else None
        self.hooks = list(hooks)
        self.progress = progress
        self.nfe = 0
        self.calls = 0
        # used for its encode_prompt / encode_duration only, so conditioning is the pipeline's own
        self._pipe = StableAudioPipeline(**components.as_pipeline_kwargs())

    # -- checks -------------------------------------------------------------------------
    def check_settings(self, steps: int, duration: float, guidance_scale: float) -> None:
        c = self.components
        if int(steps) != steps or steps < 2:
            raise EditError(f"steps must be an integer of at least 2, got {steps}")
        if not 0 < duration <= c.max_duration:
            raise EditError(
                f"duration {duration} s is outside the model's window (0, {c.max_duration:.2f}] s ({c.spec or 'model'})"
            )
        if guidance_scale < 0:
            raise EditError(f"guidance_scale must be >= 0, got {guidance_scale}")

    # -- the parts ------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, prompts: Sequence[str], duration: float) -> Conditioning:
        device = self.components.device
        prompts = list(prompts)
        text = self._pipe.encode_prompt(prompts, device, do_classifier_free_guidance=False)
        start, end = self._pipe.encode_duration(0.0, float(duration), device, False, len(prompts))
        return Conditioning(torch.cat([text, start, end], dim=1), torch.cat([start, end], dim=2))

    def initial_latents(self, seeds: Sequence[int]) -> torch.Tensor:
        """x_0: unit Gaussian noise from one CPU generator per seed (as the pipeline with a list of
        CPU generators), scaled by the scheduler's ``init_noise_sigma``; float32 on the device."""
        from diffusers.utils.torch_utils import randn_tensor

        c = self.components
        shape = (len(seeds), c.latent_channels, c.window_frames)
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        noise = randn_tensor(shape, generator=generators, device=torch.device("cpu"), dtype=torch.float32)
        return noise.to(c.device) * c.scheduler.init_noise_sigma

    def new_scheduler(self, steps: int):
        s = self.components.scheduler
        scheduler = type(s).from_config(s.config)
        scheduler.set_timesteps(int(steps), device=self.components.device)
        return scheduler

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, duration: float) -> torch.Tensor:
        """Latents of the whole window -> audio ``[B, ch, int(duration * sr)]`` (float32, CPU)."""
        audio = self.components.decode_latents(latents)
        return audio[:, :, : int(duration * self.components.sample_rate)].float().cpu()

    @torch.no_grad()
    def denoise(
        self,
        latents: torch.Tensor,
        cond: Conditioning,
        seeds: Sequence[int],
        steps: int,
        guidance_scale: float,
        frames: int,
        start: int = 0,
        prev_x0: torch.Tensor | None = None,
        swap_step: int | None = None,
        swap_cond: Conditioning | None = None,
        hooks: Sequence[StepHook] = (),
        record: bool = False,
    ) -> DenoiseResult:
        """Steps ``start..steps-1`` from ``latents`` (= x_start). ``prev_x0``: x0_hat of step start-1.
        From ``swap_step`` on, ``swap_cond`` replaces ``cond`` (the uninterrupted swapped run)."""
        c = self.components
        device = c.device
        cfg = guidance_scale > 1.0
        scheduler = self.new_scheduler(steps)
        order = scheduler.config.solver_order
        scheduler.set_begin_index(start)
        if start > 0:
            if prev_x0 is None:
                raise EditError(f"resuming at step {start} needs x0_hat of step {start - 1}")
            scheduler.model_outputs = [None] * (order - 1) + [prev_x0.to(device=device, dtype=torch.float32)]
            scheduler.lower_order_nums = min(start, order)
        latents = latents.to(device=device, dtype=torch.float32)
        scheduler.noise_sampler = make_noise_sampler(scheduler, latents, seeds)
        rotary = self._rotary(latents.shape[2] + cond.global_states.shape[1])
        inputs = {False: cond.model_inputs(cfg)}
        if swap_cond is not None:
            inputs[True] = swap_cond.model_inputs(cfg)
        states = [latents.float().cpu()] if record else []
        x0s: list[torch.Tensor] = []
        for i in tqdm(range(start, steps), desc="denoise", disable=None if self.progress is None else not self.progress, leave=False):
            t = scheduler.timesteps[i]
            sigma = float(scheduler.sigmas[i])
            enc, glob = inputs[swap_cond is not None and swap_step is not None and i >= swap_step]
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            v = self._guided_velocity(model_input, t, enc, glob, rotary, guidance_scale)
            latents = scheduler.step(v, t, latents).prev_sample
            x0_hat = scheduler.model_outputs[-1]
            for hook in hooks:
                hook(i, sigma, x0_hat[:, :, :frames])
            if record:
                states.append(latents.float().cpu())
                x0s.append(x0_hat.float().cpu())
        return DenoiseResult(latents, states, x0s)

    def _rotary(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.models.embeddings import get_1d_rotary_pos_embed

        rotary = get_1d_rotary_pos_embed(
            self.components.transformer.config.attention_head_dim // 2, length, use_real=True,
            repeat_interleave_real=False,
        )
        return tuple(r.to(self.components.device) for r in rotary)

    def _guided_velocity(self, model_input: torch.Tensor, t: torch.Tensor, enc: torch.Tensor, glob: torch.Tensor,
                         rotary, guidance_scale: float) -> torch.Tensor:
        """One DiT call on a (CFG-doubled when guidance > 1) batch; the guided v. Counts NFE and calls."""
        c = self.components
        dtype = c.transformer.dtype
        v = c.transformer(
            model_input.to(dtype),
            t.unsqueeze(0),
            encoder_hidden_states=enc.to(dtype),
            global_hidden_states=glob.to(dtype),
            rotary_embedding=rotary,
            return_dict=False,
        )[0].float()
        cfg = guidance_scale > 1.0
        self.nfe += v.shape[0] // 2 if cfg else v.shape[0]
        self.calls += 1
        if cfg:
            v_uncond, v_cond = v.chunk(2)
            v = v_uncond + guidance_scale * (v_cond - v_uncond)
        return v

    @torch.no_grad()
    def predict_x0(self, trajectory: Trajectory, prompts: Sequence[str], step: int) -> torch.Tensor:
        """x0_hat ``[B, C, latent_frames]`` of ``prompts`` on the source's noisy latent x_step: one guided
        denoiser evaluation per prompt (counted in ``nfe``), nothing else changes. The probe of the
        ``probe`` strategy; with the source prompt it reproduces the trajectory's cached x0_hat."""
        self.check_trajectory(trajectory)
        n = trajectory.steps
        if int(step) != step or not 0 <= step < n:
            raise EditError(f"probe step {step} is outside [0, {n - 1}] for a {n}-step trajectory")
        step = int(step)
        cfg = trajectory.guidance_scale > 1.0
        scheduler = self.new_scheduler(n)
        scheduler.set_begin_index(step)
        t = scheduler.timesteps[step]
        cond = self.encode(prompts, trajectory.duration)
        enc, glob = cond.model_inputs(cfg)
        x = trajectory.latents[step].unsqueeze(0).expand(len(prompts), -1, -1).to(self.components.device)
        model_input = scheduler.scale_model_input(torch.cat([x] * 2) if cfg else x, t)
        rotary = self._rotary(x.shape[2] + glob.shape[1])
        v = self._guided_velocity(model_input, t, enc, glob, rotary, trajectory.guidance_scale)
        x0 = scheduler.precondition_outputs(x, v, scheduler.sigmas[step])
        return x0[:, :, : trajectory.latent_frames].float()

    # -- the API ----------------------------------------------------------------------------
    def generate_sources(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        steps: int,
        duration: float,
        guidance_scale: float = 7.0,
    ) -> list[Trajectory]:
        """Source generations (one batch) with their classifier traces and resume caches."""
        if len(prompts) != len(seeds):
            raise EditError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        self.check_settings(steps, duration, guidance_scale)
        c = self.components
        frames = c.frames_for(duration)
        hooks = list(self.hooks)
        if self.classifier_hook is not None:
            self.classifier_hook.reset()
            hooks.insert(0, self.classifier_hook)
        nfe0 = self.nfe
        result = self.denoise(
            self.initial_latents(seeds), self.encode(prompts, duration), seeds, steps, guidance_scale, frames,
            hooks=hooks, record=True,
        )
        audio = self.decode(result.latents, duration)
        traces = self.classifier_hook.traces() if self.classifier_hook is not None else [None] * len(prompts)
        latents = torch.stack(result.states, dim=1)  # [B, N+1, C, W]
        x0_hat = torch.stack(result.x0_hat, dim=1)  # [B, N, C, W]
        sched = self.new_scheduler(steps)
        per_sample_nfe = (self.nfe - nfe0) // len(prompts)
        log.info("generated %d source(s): %d steps, %d NFE each", len(prompts), steps, per_sample_nfe)
        return [
            Trajectory(
                prompt=prompts[b],
                seed=int(seeds[b]),
                steps=int(steps),
                duration=float(duration),
                guidance_scale=float(guidance_scale),
                sigmas=[float(s) for s in sched.sigmas],
                noise_bounds=noise_bounds(sched),
                solver_order=int(sched.config.solver_order),
                latents=latents[b],
                x0_hat=x0_hat[b],
                audio=audio[b],
                sample_rate=c.sample_rate,
                latent_frames=frames,
                trace=traces[b],
                nfe=per_sample_nfe,
                model=c.spec,
            )
            for b in range(len(prompts))
        ]

    def generate_source(self, prompt: str, seed: int, steps: int, duration: float,
                        guidance_scale: float = 7.0) -> Trajectory:
        return self.generate_sources([prompt], [seed], steps, duration, guidance_scale)[0]

    def generate(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        steps: int,
        duration: float,
        guidance_scale: float = 7.0,
        swap_prompts: Sequence[str] | None = None,
        swap_step: int | None = None,
    ) -> torch.Tensor:
        """Audio of uninterrupted runs, swapping to ``swap_prompts`` at ``swap_step`` (regeneration
        from scratch: the reference an edit from the cache must equal, and the benchmark's baseline)."""
        self.check_settings(steps, duration, guidance_scale)
        swap_cond = self.encode(swap_prompts, duration) if swap_prompts is not None else None
        result = self.denoise(
            self.initial_latents(seeds), self.encode(prompts, duration), seeds, steps, guidance_scale,
            self.components.frames_for(duration), swap_step=swap_step, swap_cond=swap_cond, hooks=self.hooks,
        )
        return self.decode(result.latents, duration)

    def check_trajectory(self, trajectory: Trajectory) -> None:
        c = self.components
        window = int(trajectory.latents.shape[-1])
        if window != c.window_frames or int(trajectory.latents.shape[-2]) != c.latent_channels:
            raise EditError(
                f"the trajectory of {trajectory.prompt!r} was made by another model "
                f"({trajectory.model or 'unknown'}: latents {tuple(trajectory.latents.shape[-2:])}); "
                "regenerate the source with this model"
            )
        sched = self.new_scheduler(trajectory.steps)
        if list(noise_bounds(sched)) != [float(b) for b in trajectory.noise_bounds] or not torch.allclose(
            sched.sigmas.float(), torch.tensor(trajectory.sigmas, dtype=torch.float32)
        ):
            raise EditError(f"the trajectory of {trajectory.prompt!r} used another noise schedule; regenerate it")

    @torch.no_grad()
    def edit(self, trajectory: Trajectory, target_prompts: Sequence[str],
             swap_steps: Sequence[int | None]) -> list[torch.Tensor | None]:
        """Edited audio ``[ch, samples]`` per target prompt, resuming the source at each swap step.

        Targets with the same swap step run as one batch (a repeated (prompt, step) pair runs
        once); step N returns the source audio,
        ``None`` (a skipped item) returns ``None``. An edit at step k costs N-k NFE.
        """
        if len(target_prompts) != len(swap_steps):
            raise EditError(f"got {len(target_prompts)} target prompts but {len(swap_steps)} swap steps")
        self.check_trajectory(trajectory)
        n = trajectory.steps
        groups: dict[int, list[int]] = defaultdict(list)
        for j, k in enumerate(swap_steps):
            if k is None:
                continue
            if int(k) != k or not 0 <= k <= n:
                raise EditError(f"swap step {k} is outside [0, {n}] for a {n}-step trajectory")
            groups[int(k)].append(j)
        out: list[torch.Tensor | None] = [None] * len(target_prompts)
        for k, idx in sorted(groups.items()):
            if k == n:
                for j in idx:
                    out[j] = trajectory.audio.clone()
                continue
            prompts = list(dict.fromkeys(target_prompts[j] for j in idx))  # equal (prompt, step): computed once
            b = len(prompts)
            result = self.denoise(
                trajectory.latents[k].unsqueeze(0).expand(b, -1, -1),
                self.encode(prompts, trajectory.duration),
                [trajectory.seed] * b,
                n,
                trajectory.guidance_scale,
                trajectory.latent_frames,
                start=k,
                prev_x0=trajectory.x0_hat[k - 1].unsqueeze(0).expand(b, -1, -1) if k > 0 else None,
                hooks=self.hooks,
            )
            audio = self.decode(result.latents, trajectory.duration)
            for j in idx:
                out[j] = audio[prompts.index(target_prompts[j])].clone()
            log.info("edited %d target(s) from step %d/%d: %d NFE", b, k, n, b * (n - k))
        return out
