"""The denoising loop on the backbone interface, with hooks on x0_hat and a conditioning schedule.

A text-to-audio pipeline cannot change the prompt mid-run, so :class:`Editor` runs the
steps itself through :class:`difftone.models.backbone.Backbone` (encode prompts, initial
noise, a fresh schedule, one guided evaluation -> (model output, x0_hat), one scheduler
step, decode): the engine knows no model. On Stable Audio Open with no swap it equals
``StableAudioPipeline`` (``tests/test_engine.py``). After every step x0_hat goes to the
hooks, cropped to the frames of the requested duration.

One item or many: :meth:`Editor.generate` and :meth:`Editor.edit_at` take one source or a sequence;
the first argument decides (a prompt or a list of prompts, a trajectory or a list of
trajectories), the per-source arguments follow it (one value each, or a sequence of the same
length), and one in gives one result, a sequence in a list of results in order.
:meth:`Editor.sample` and :meth:`Editor.resume` are runs of one batch and return a batch
tensor ``[B, ...]`` (``[ch, samples]`` for one prompt in ``sample``).

Speed: a recorded run keeps x_k and x0_hat on the device in ``cache_dtype`` and
copies them to the host once at the end (no per-step sync); the classifier reads every
step's x0_hat in one batched call after the run (:meth:`ClassifierHook.read`), not inside
the loop; :meth:`Editor.edit_at` batches the edits of several sources that resume at the
same step (``batch_size`` samples per DiT batch). The window a run denoises is the
backbone's ``window_for(duration)`` (SAO: the whole ``sample_size``, or the duration plus a
margin with ``model.window: duration``); a resume denoises the cached latents' own width.

Conditioning schedule: a run takes a sorted list of ``(from_step, conditioning)``
changes; from ``from_step`` on that conditioning is used, so several swaps can follow
one another in one run. Today's prompt swap at step k is ``[(0, source), (k, target)]``,
and an edit resumed from the cache at k is ``[(k, target)]`` started at x_k.

Noise: the backbone's schedule draws the noise of step i from the sample's seed and the
schedule only (not the batch, the prompt or the start step), so a run resumed at step k
equals the uninterrupted one; ``noise={i: tensor}`` injects a step's noise instead.

NFE: ``Editor.nfe`` counts denoiser evaluations per sample and step (a CFG pair of
uncond/cond counts as one evaluation); ``Editor.calls`` counts batched denoiser calls.
"""

from __future__ import annotations

import logging
import numbers
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from difftone.engine.hooks import ClassifierHook, StepHook
from difftone.engine.trajectory import Trajectory
from difftone.models.backbone import Backbone, Conditioning, Prediction, Schedule, samples_in
from difftone.models.sao import make_noise_sampler, noise_bounds  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


class EditError(ValueError):
    """Bad generation/edit settings (steps, duration, swap steps, trajectory/model mismatch)."""


CACHE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _dtype(value: torch.dtype | str) -> torch.dtype:
    if isinstance(value, torch.dtype) and value in CACHE_DTYPES.values():
        return value
    if str(value) in CACHE_DTYPES:
        return CACHE_DTYPES[str(value)]
    raise EditError(f"generation.cache_dtype must be one of {', '.join(CACHE_DTYPES)}, got {value!r}")


ConditioningSchedule = Sequence[tuple[int, Conditioning]]
# A per-step latent update before the step's guided evaluation: (step, x_step, schedule, cond) -> x_step'
# (MusicMagus' cross-attention constraint, difftone.engine.musicmagus). Runs with grad disabled; enable it inside.
LatentGuide = Callable[[int, torch.Tensor, Schedule, Conditioning], torch.Tensor]


def conditioning_at(changes: ConditioningSchedule, start: int, steps: int) -> list[Conditioning]:
    """The conditioning of each step ``start..steps-1`` under ``changes`` (sorted ``(from_step, cond)``,
    the first at or before ``start``; all of one batch size)."""
    changes = list(changes)
    if not changes:
        raise EditError("a run needs at least one conditioning")
    froms = [int(k) for k, _ in changes]
    if froms != sorted(froms) or len(set(froms)) != len(froms):
        raise EditError(f"conditioning changes must be at increasing steps, got {froms}")
    if froms[0] > start:
        raise EditError(f"the first conditioning starts at step {froms[0]}, after the run's start {start}")
    sizes = {len(c) for _, c in changes}
    if len(sizes) != 1:
        raise EditError(f"every conditioning of a run must have the same batch size, got {sorted(sizes)}")
    out, j = [], 0
    for i in range(start, steps):
        while j + 1 < len(changes) and froms[j + 1] <= i:
            j += 1
        out.append(changes[j][1])
    return out


@dataclass
class DenoiseResult:
    latents: torch.Tensor  # [B, C, W] final latents (on the device, float32)
    states: torch.Tensor | None = None  # [B, N+1-start, C, W] x_k for k = start..N (CPU, cache dtype), when recorded
    x0_hat: torch.Tensor | None = (
        None  # [B, N-start, C, W] x0_hat of steps start..N-1 (CPU, cache dtype), when recorded
    )


class Editor:
    """Generate sources with a per-step classifier trace, and edit them by a prompt swap.

    ``backbone``: a :class:`difftone.models.backbone.Backbone` (``load_backbone``/``load_sao``);
    ``classifier``: a latent instrument classifier (``instruments``, ``[B, C, T] -> logits``) run
    on x0_hat at every step of a source generation (one batched call after the run, ``trace_batch``
    inputs per call); ``hooks``: more :class:`StepHook` callables, called per step;
    ``cache_dtype``: the dtype the trajectory cache is recorded in (float32 keeps a resume exact; float16
    halves it, ``generation.cache_dtype``); ``batch_size``: most samples per DiT batch of
    :meth:`edit_at` (``edits.batch_size``; None: one batch per swap step).
    """

    def __init__(
        self,
        backbone: Backbone,
        classifier: torch.nn.Module | None = None,
        hooks: Sequence[StepHook] = (),
        progress: bool | None = None,
        cache_dtype: torch.dtype | str = torch.float32,
        batch_size: int | None = None,
        trace_batch: int = 256,
    ):
        self.backbone = backbone
        self.classifier_hook = ClassifierHook(classifier) if classifier is not None else None
        self.hooks = list(hooks)
        self.progress = progress
        self.cache_dtype = _dtype(cache_dtype)
        if batch_size is not None and int(batch_size) < 1:
            raise EditError(f"edits.batch_size must be at least 1, got {batch_size}")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.trace_batch = int(trace_batch)
        self.nfe = 0
        self.calls = 0

    # -- checks -------------------------------------------------------------------------
    def check_settings(self, steps: int, duration: float, guidance_scale: float) -> None:
        b = self.backbone
        if int(steps) != steps or steps < 2:
            raise EditError(f"steps must be an integer of at least 2, got {steps}")
        if not 0 < duration <= b.max_duration:
            raise EditError(
                f"duration {duration} s is outside the model's window (0, {b.max_duration:.2f}] s ({b.spec or 'model'})"
            )
        if guidance_scale < 0:
            raise EditError(f"guidance_scale must be >= 0, got {guidance_scale}")

    # -- the parts (backbone operations, counted) ------------------------------------------------
    @torch.no_grad()
    def encode(self, prompts: Sequence[str], duration: float) -> Conditioning:
        return self.backbone.encode_prompts(list(prompts), float(duration))

    def initial_latents(self, seeds: Sequence[int], duration: float | None = None) -> torch.Tensor:
        """x_0 over the window a run of ``duration`` denoises (``backbone.window_for``; None: the whole window)."""
        frames = None if duration is None else self.backbone.window_for(duration)
        return self.backbone.initial_noise(seeds, frames)

    def new_schedule(self, steps: int) -> Schedule:
        return self.backbone.new_schedule(int(steps))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, duration: float) -> torch.Tensor:
        """Latents of the whole window -> audio ``[B, ch, samples_in(duration, sr)]`` (float32, CPU)."""
        audio = self.backbone.decode(latents)
        return audio[:, :, : samples_in(duration, self.backbone.sample_rate)].float().cpu()

    def predict(
        self, latents: torch.Tensor, step: int, schedule: Schedule, cond: Conditioning, guidance_scale: float
    ) -> Prediction:
        """One guided denoiser evaluation (grad follows the caller's mode); counts NFE and calls."""
        prediction = self.backbone.predict(latents, step, schedule, cond, guidance_scale)
        self.nfe += int(latents.shape[0])
        self.calls += 1
        return prediction

    @torch.no_grad()
    def denoise(
        self,
        latents: torch.Tensor,
        conditioning: Conditioning | ConditioningSchedule,
        seeds: Sequence[int],
        steps: int,
        guidance_scale: float,
        frames: int,
        start: int = 0,
        prev_x0: torch.Tensor | None = None,
        hooks: Sequence[StepHook] = (),
        record: bool = False,
        noise: Mapping[int, torch.Tensor] | None = None,
        guide: LatentGuide | None = None,
    ) -> DenoiseResult:
        """Steps ``start..steps-1`` from ``latents`` (= x_start). ``conditioning``: one conditioning, or a
        schedule of ``(from_step, conditioning)`` changes; ``prev_x0``: x0_hat of step start-1;
        ``noise``: step -> injected noise (instead of the schedule's own); ``guide``: a latent update
        before each step's guided evaluation (its denoiser evaluations go through :meth:`predict`)."""
        if isinstance(conditioning, Conditioning):
            conditioning = [(start, conditioning)]
        per_step = conditioning_at(conditioning, start, steps)
        if start > 0 and prev_x0 is None:
            raise EditError(f"resuming at step {start} needs x0_hat of step {start - 1}")
        device = self.backbone.device
        latents = latents.to(device=device, dtype=torch.float32)
        schedule = self.new_schedule(steps)
        schedule.start(latents, seeds, step=start, prev_x0=prev_x0)
        # recorded on the device in the cache dtype, copied to the host once after the loop
        states = [latents.to(self.cache_dtype, copy=True)] if record else []
        x0s: list[torch.Tensor] = []
        noise = noise or {}
        bar = tqdm(
            range(start, steps),
            desc="denoise",
            leave=False,
            disable=None if self.progress is None else not self.progress,
        )
        for i, cond in zip(bar, per_step):
            if guide is not None:
                latents = guide(i, latents, schedule, cond)
            prediction = self.predict(latents, i, schedule, cond, guidance_scale)
            latents = self.backbone.step(schedule, prediction, i, latents, noise=noise.get(i))
            x0_hat = prediction.x0_hat
            for hook in hooks:
                hook(i, schedule.sigmas[i], x0_hat[:, :, :frames])
            if record:
                states.append(latents.to(self.cache_dtype, copy=True))
                x0s.append(x0_hat.to(self.cache_dtype, copy=True))
        if not record:
            return DenoiseResult(latents)
        return DenoiseResult(latents, torch.stack(states, dim=1).cpu(), torch.stack(x0s, dim=1).cpu() if x0s else None)

    def read_traces(self, x0_hat: torch.Tensor, sigmas: Sequence[float], frames: int) -> list:
        """The classifier's trace of each sample from its recorded x0_hat ``[B, N, C, W]`` (the frames of the
        duration), in one batched call; ``[None] * B`` without a classifier."""
        if self.classifier_hook is None:
            return [None] * int(x0_hat.shape[0])
        self.classifier_hook.reset()
        self.classifier_hook.read(x0_hat[..., :frames], sigmas, batch=self.trace_batch)
        return self.classifier_hook.traces()

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
        schedule = self.new_schedule(n)
        cond = self.encode(prompts, trajectory.duration)
        x = trajectory.latents[step].unsqueeze(0).expand(len(prompts), -1, -1).to(self.backbone.device)
        x0 = self.predict(x, step, schedule, cond, trajectory.guidance_scale).x0_hat
        return x0[:, :, : trajectory.latent_frames].float()

    # -- the API ----------------------------------------------------------------------------
    def generate(
        self,
        prompts: str | Sequence[str],
        seeds: int | Sequence[int],
        steps: int,
        duration: float,
        guidance_scale: float = 7.0,
    ) -> Trajectory | list[Trajectory]:
        """Source generations (one batch) with their classifier traces and resume caches: one prompt and
        seed -> a :class:`Trajectory`; a sequence of prompts and as many seeds -> a list of them."""
        prompts, seeds, one = _prompts_and_seeds(prompts, seeds)
        self.check_settings(steps, duration, guidance_scale)
        c = self.backbone
        frames = c.frames_for(duration)
        nfe0 = self.nfe
        result = self.denoise(
            self.initial_latents(seeds, duration),
            self.encode(prompts, duration),
            seeds,
            steps,
            guidance_scale,
            frames,
            hooks=self.hooks,
            record=True,
        )
        audio = self.decode(result.latents, duration)
        sched = self.new_schedule(steps)
        latents, x0_hat = result.states, result.x0_hat  # [B, N+1, C, W], [B, N, C, W]
        traces = self.read_traces(x0_hat, sched.sigmas, frames)
        per_sample_nfe = (self.nfe - nfe0) // len(prompts)
        log.info("generated %d source(s): %d steps, %d NFE each", len(prompts), steps, per_sample_nfe)
        out = [
            Trajectory(
                prompt=prompts[b],
                seed=int(seeds[b]),
                steps=int(steps),
                duration=float(duration),
                guidance_scale=float(guidance_scale),
                sigmas=[float(s) for s in sched.sigmas],
                noise_bounds=tuple(float(b) for b in sched.noise_bounds),
                solver_order=int(sched.order),
                latents=latents[b],
                x0_hat=x0_hat[b],
                audio=audio[b],
                sample_rate=c.sample_rate,
                latent_frames=frames,
                trace=traces[b],
                nfe=per_sample_nfe,
                model=c.spec,
                window="full" if latents.shape[-1] == c.window_frames else "duration",
            )
            for b in range(len(prompts))
        ]
        return out[0] if one else out

    def sample(
        self,
        prompts: str | Sequence[str],
        seeds: int | Sequence[int],
        steps: int,
        duration: float,
        guidance_scale: float = 7.0,
        changes: Sequence[tuple[int, str | Sequence[str]]] = (),
    ) -> torch.Tensor:
        """Audio of plain, uninterrupted runs from ``prompts``: no trace, no cache. ``changes``:
        ``(from_step, prompts)`` swaps during the run (several swaps in one run). The reference an
        edit from the cache must equal, and the benchmark's baseline. One prompt -> ``[ch, samples]``;
        a sequence -> ``[B, ch, samples]``."""
        prompts, seeds, one = _prompts_and_seeds(prompts, seeds)
        self.check_settings(steps, duration, guidance_scale)
        schedule = [(0, prompts)] + [(int(k), [p] if one else list(p)) for k, p in changes]
        schedule = sorted(schedule, key=lambda change: change[0])
        result = self.denoise(
            self.initial_latents(seeds, duration),
            self._encode_schedule(schedule, duration),
            seeds,
            steps,
            guidance_scale,
            self.backbone.frames_for(duration),
            hooks=self.hooks,
        )
        audio = self.decode(result.latents, duration)
        return audio[0] if one else audio

    def _encode_schedule(self, changes: Sequence[tuple[int, Sequence[str]]], duration: float):
        """``(from_step, prompts)`` -> ``(from_step, Conditioning)``; a later change at the same step wins."""
        merged = dict((int(k), list(p)) for k, p in changes)
        return [(k, self.encode(p, duration)) for k, p in sorted(merged.items())]

    def check_trajectory(self, trajectory: Trajectory) -> None:
        c = self.backbone
        window = int(trajectory.latents.shape[-1])
        # a resume denoises the cached width: the whole window, or the duration plus a margin (model.window)
        fits = (
            window == c.window_frames
            if trajectory.window == "full"
            else trajectory.latent_frames <= window <= c.window_frames
        )
        if not fits or int(trajectory.latents.shape[-2]) != c.latent_channels:
            raise EditError(
                f"the trajectory of {trajectory.prompt!r} was made by another model "
                f"({trajectory.model or 'unknown'}: latents {tuple(trajectory.latents.shape[-2:])}); "
                "regenerate the source with this model"
            )
        sched = self.new_schedule(trajectory.steps)
        if [float(b) for b in sched.noise_bounds] != [float(b) for b in trajectory.noise_bounds] or not torch.allclose(
            torch.tensor(sched.sigmas, dtype=torch.float32), torch.tensor(trajectory.sigmas, dtype=torch.float32)
        ):
            raise EditError(f"the trajectory of {trajectory.prompt!r} used another noise schedule; regenerate it")

    @torch.no_grad()
    def resume(
        self,
        trajectories: Trajectory | Sequence[Trajectory],
        changes: ConditioningSchedule | Sequence[tuple[int, Sequence[str]]],
        noise: Mapping[int, torch.Tensor] | None = None,
        guidance_scale: float | None = None,
        return_latents: bool = False,
    ) -> torch.Tensor:
        """Audio ``[B, ch, samples]`` of sources resumed at the first change's step k from their cached x_k
        and x0_hat_{k-1}, under the conditioning schedule ``changes`` (``(from_step, Conditioning | prompts)``,
        sorted, one batch size B): several swaps in one resumed run. Costs B * (N - k) NFE.

        ``trajectories``: one trajectory (every sample of the batch resumes it), or one per sample (sources
        of one batch must share steps, duration, cached width, edit guidance and origin: :func:`resume_key`).
        An inverted trajectory injects its stored noise maps (unless ``noise`` is given) and adds its
        last-step residual. ``guidance_scale``: default the trajectory's ``edit_guidance_scale``.
        ``return_latents``: the final latents ``[B, C, W]`` instead of the audio."""
        if not changes:
            raise EditError("resume needs at least one conditioning change")
        if isinstance(trajectories, Trajectory):
            trajectories = [trajectories] * len(changes[0][1])
        if not trajectories:
            raise EditError("resume needs at least one trajectory")
        first = trajectories[0]
        unique = list({id(t): t for t in trajectories}.values())
        for t in unique:
            self.check_trajectory(t)
        keys = {resume_key(t) for t in unique}
        if len(keys) != 1:
            raise EditError(
                f"sources resumed in one batch must share steps, duration, cached width, edit guidance "
                f"and origin, got {sorted(keys)}"
            )
        n = first.steps
        changes = [(int(k), c if isinstance(c, Conditioning) else self.encode(c, first.duration)) for k, c in changes]
        k = changes[0][0]
        if not 0 <= k < n or changes[-1][0] > n:
            raise EditError(f"swap step {k} is outside [0, {n - 1}] for resuming a {n}-step trajectory")
        b = len(changes[0][1])
        if b != len(trajectories):
            raise EditError(f"got {len(trajectories)} trajectories for a conditioning of batch {b}")
        device = self.backbone.device

        def stacked(get) -> torch.Tensor:
            # one host->device copy per distinct source, expanded over its repeats
            rows = {id(t): get(t).to(device=device, dtype=torch.float32) for t in unique}
            return torch.stack([rows[id(t)] for t in trajectories])

        if noise is None and first.noise is not None:
            noise = {i: stacked(lambda t, i=i: t.noise[i]) for i in range(k, n)}
        result = self.denoise(
            stacked(lambda t: t.latents[k]),
            changes,
            [t.seed for t in trajectories],
            n,
            first.edit_guidance_scale if guidance_scale is None else float(guidance_scale),
            first.latent_frames,
            start=k,
            prev_x0=stacked(lambda t: t.x0_hat[k - 1]) if k > 0 else None,
            hooks=self.hooks,
            noise=noise or {},
        )
        latents = result.latents
        if first.residual is not None:
            latents = latents + stacked(lambda t: t.residual)
        return latents if return_latents else self.decode(latents, first.duration)

    @torch.no_grad()
    def edit_at(
        self,
        trajectories: Trajectory | Sequence[Trajectory],
        target_prompts: Sequence[str] | Sequence[Sequence[str]],
        swap_steps: Sequence[int | None] | Sequence[Sequence[int | None]],
    ) -> list[torch.Tensor | None] | list[list[torch.Tensor | None]]:
        """Edited audio ``[ch, samples]`` per target prompt, resuming each source at the swap step given for
        each target (the edit step, :func:`difftone.engine.edit`, chooses the steps with a strategy).

        One trajectory with its target prompts and swap steps -> a list of audio, one per target; a sequence
        of trajectories with a sequence of target prompts and of swap steps per trajectory -> a list of
        those lists. Edits of every source that resume at the same step (and share :func:`resume_key`) run
        in one DiT batch of at most ``batch_size`` samples; a repeated (source, prompt, step) runs once.
        Step N returns the source audio, a ``None`` step (a skipped edit) ``None``. An edit at step k costs
        N-k NFE."""
        one = isinstance(trajectories, Trajectory)
        if one:
            jobs = [(trajectories, target_prompts, swap_steps)]
        else:
            _check_lengths(trajectories, target_prompts, swap_steps)
            jobs = list(zip(trajectories, target_prompts, swap_steps))
        out: list[list[torch.Tensor | None]] = []
        groups: dict[tuple, list[tuple[int, str]]] = defaultdict(list)  # (key, k) -> unique (job, prompt)
        wanted: list[tuple[int, int, tuple, tuple[int, str]]] = []  # (job, target, group, entry)
        for j, (trajectory, prompts, steps) in enumerate(jobs):
            if isinstance(prompts, str):
                raise EditError(f"target prompts must be a list of prompts, got the string {prompts!r}")
            if len(prompts) != len(steps):
                raise EditError(f"got {len(prompts)} target prompts but {len(steps)} swap steps")
            self.check_trajectory(trajectory)
            n = trajectory.steps
            out.append([None] * len(prompts))
            for t, (prompt, k) in enumerate(zip(prompts, steps)):
                if k is None:
                    continue
                if int(k) != k or not 0 <= k <= n:
                    raise EditError(f"swap step {k} is outside [0, {n}] for a {n}-step trajectory")
                if k == n:
                    out[j][t] = trajectory.audio.clone()
                    continue
                group = (resume_key(trajectory), int(k))
                entry = (j, prompt)
                if entry not in groups[group]:
                    groups[group].append(entry)
                wanted.append((j, t, group, entry))
        done: dict[tuple, torch.Tensor] = {}
        size = self.batch_size
        for group in sorted(groups, key=lambda g: g[1]):
            k, entries = group[1], groups[group]
            for c in range(0, len(entries), size or len(entries)):
                chunk = entries[c : c + (size or len(entries))]
                trajs = [jobs[j][0] for j, _ in chunk]
                # one text-encoder call per batch (the batch shares its duration)
                cond = self.encode([prompt for _, prompt in chunk], trajs[0].duration)
                audio = self.resume(trajs, [(k, cond)])
                for entry, wave in zip(chunk, audio):
                    done[(group, entry)] = wave
                n = trajs[0].steps
                log.info(
                    "edited %d target(s) of %d source(s) from step %d/%d: %d NFE",
                    len(chunk),
                    len({j for j, _ in chunk}),
                    k,
                    n,
                    len(chunk) * (n - k),
                )
        for j, t, group, entry in wanted:
            out[j][t] = done[(group, entry)].clone()
        return out[0] if one else out


def _check_lengths(trajectories: Sequence, target_prompts: Sequence, swap_steps: Sequence) -> None:
    if not len(trajectories) == len(target_prompts) == len(swap_steps):
        raise EditError(
            f"got {len(trajectories)} trajectories but {len(target_prompts)} lists of target prompts "
            f"and {len(swap_steps)} lists of swap steps (one of each per trajectory)"
        )


def _prompts_and_seeds(prompts, seeds) -> tuple[list[str], list[int], bool]:
    """``(prompts, seeds, one)``: one prompt with one seed -> one-element lists and ``one``; a sequence of
    prompts with as many seeds -> lists. A mix raises :class:`EditError`."""
    if isinstance(prompts, str):
        if not isinstance(seeds, numbers.Integral):
            raise EditError(f"one prompt takes one seed, got {seeds!r}")
        return [prompts], [seeds], True
    if isinstance(seeds, (numbers.Integral, str)):
        raise EditError(f"a list of prompts takes a list of seeds, got {seeds!r}")
    prompts, seeds = list(prompts), list(seeds)
    if len(prompts) != len(seeds):
        raise EditError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
    return prompts, seeds, False


def resume_key(trajectory: Trajectory) -> tuple:
    """What sources resumed in one DiT batch must share: steps, duration (decoded length, conditioning),
    cached width, edit guidance and origin (stored noise maps / residual)."""
    return (
        int(trajectory.steps),
        float(trajectory.duration),
        int(trajectory.latents.shape[-1]),
        float(trajectory.edit_guidance_scale),
        trajectory.noise is not None,
        trajectory.residual is not None,
    )
