"""Stable Audio Open as a :class:`difftone.models.backbone.Backbone` (real, tiny, snapshot and demo).

:class:`SAOBackbone` holds SAO's six parts as ``StableAudioPipeline`` takes them and runs
the pipeline's operations itself, in the pipeline's order, so that a run through it
equals ``StableAudioPipeline`` (``tests/test_engine.py``):

- ``encode_prompts``: T5 on the padded prompt, the projection model, the attention mask
  applied (``encode_prompt``), and the seconds-start/end embeddings (``encode_duration``);
- classifier-free guidance as the pipeline: batch ``[uncond; cond]``, the unconditional
  cross-attention input all zeros, the global (seconds) states shared;
- the rotary embedding of the DiT (:func:`rotary_embedding`, built here only);
- ``CosineDPMSolverMultistepScheduler``: x0_hat = ``precondition_outputs(x, v, sigma)``
  (what the scheduler's step itself uses), SDE noise from one Brownian tree per sample on
  bounds ``[0, sigma_max * 1.001]`` covering the schedule (diffusers builds it on
  ``[sigma_min, sigma_max]`` and queries outside it), so the noise of step i depends only
  on the seed and (sigma_i, sigma_{i+1});
- resume at step k: step index k, ``model_outputs = [None, x0_hat_{k-1}]``,
  ``lower_order_nums = min(k, order)``; injected noise replaces the tree for one step.

The window (``model.window``): ``full`` denoises the DiT's whole ``sample_size`` (1024 frames,
47.55 s) whatever the duration, as the pipeline and the paper; ``duration`` denoises only
the frames of the requested duration plus ``window_margin`` frames (the x_0 noise is the
first frames of the full window's noise, the rotary embedding is built for the shorter
input as the pipeline builds it for any length). It changes the model's input: its audio
quality with real weights is unmeasured (opt-in).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from difftone.models.backbone import Conditioning, Prediction, cross_attention_modules, samples_in

COMPONENT_NAMES = ("transformer", "vae", "text_encoder", "tokenizer", "projection_model", "scheduler")
WINDOWS = ("full", "duration")
NOISE_BOUND_MARGIN = 1e-3


def noise_bounds(scheduler) -> tuple[float, float]:
    """The Brownian tree's interval: covers every sigma of any schedule, including 0 and sigma_max."""
    return 0.0, float(scheduler.config.sigma_max) * (1.0 + NOISE_BOUND_MARGIN)


def make_noise_sampler(scheduler, sample: torch.Tensor, seeds: Sequence[int]):
    """One Brownian tree per sample (``seeds[b]``), on :func:`noise_bounds`: diffusers'
    ``BrownianTreeNoiseSampler`` noise, drawn once per distinct seed (:class:`SharedSeedNoise`)."""
    lo, hi = noise_bounds(scheduler)
    return SharedSeedNoise(sample, lo, hi, seeds)


class SharedSeedNoise:
    """The noise of ``BrownianTreeNoiseSampler(sample, lo, hi, seed=seeds)``, item for item, with one tree per
    distinct seed per process and each tree's answers kept.

    Every item of one seed draws the same noise for the same (sigma, sigma_next): the edits of a source
    (one per target, strategy and swap step) and every source of that seed. diffusers builds one
    ``torchsde.BrownianInterval`` per item and walks it to ``tol=1e-6`` at every query, which cost a third of
    an edit job on the demo model (cProfile: 26.7 s of 83 s). A query's answer depends only on the seed and
    the interval (the tree's defining property, which resuming at step k already relies on), so the kept
    answer is the one a fresh tree gives: ``tests/test_backbone.py`` checks equality with diffusers'.
    At most ``MAX_SEEDS`` trees are kept (least recently used dropped), each with its queried steps."""

    MAX_SEEDS = 32
    _trees: OrderedDict[tuple, tuple[Any, dict]] = OrderedDict()

    def __init__(self, sample: torch.Tensor, lo: float, hi: float, seeds: Sequence[int]):
        if len(seeds) != sample.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {sample.shape[0]} samples")
        self.seeds = [int(s) for s in seeds]
        self.item = sample[:1]
        self.bounds = (float(lo), float(hi))

    def _tree(self, seed: int):
        from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

        key = (seed, self.bounds, tuple(self.item.shape), self.item.dtype, str(self.item.device))
        trees = SharedSeedNoise._trees
        if key in trees:
            trees.move_to_end(key)
        else:
            trees[key] = (BrownianTreeNoiseSampler(self.item, *self.bounds, seed=[seed]), {})
            while len(trees) > self.MAX_SEEDS:
                trees.popitem(last=False)
        return trees[key]

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        query = (float(sigma), float(sigma_next))
        drawn = {}
        for seed in dict.fromkeys(self.seeds):
            tree, answers = self._tree(seed)
            if query not in answers:
                answers[query] = tree(sigma, sigma_next)
            drawn[seed] = answers[query]
        return torch.cat([drawn[s] for s in self.seeds])


def rotary_embedding(transformer, length: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The DiT's rotary embedding over ``length`` positions (latent frames + the global token),
    as ``StableAudioPipeline`` builds it. The one place it is built (engine, demo training, benchmark)."""
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    rotary = get_1d_rotary_pos_embed(
        transformer.config.attention_head_dim // 2, int(length), use_real=True, repeat_interleave_real=False
    )
    return tuple(r.to(device if device is not None else transformer.device) for r in rotary)


@dataclass
class SAOConditioning(Conditioning):
    """SAO's cond half: ``text`` [B, L, D] projected, masked prompt embeddings; seconds start/end [B, 1, D]."""

    seconds_start: torch.Tensor
    seconds_end: torch.Tensor

    def dit_inputs(self, cfg: bool, drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoder_hidden_states, global_hidden_states) of the DiT. ``cfg``: the batch ``[uncond; cond]``
        with the unconditional cross-attention input all zeros (the pipeline's); ``drop[b]``: zero item b's
        cross-attention input (prompt dropout in training)."""
        cross = torch.cat([self.text, self.seconds_start, self.seconds_end], dim=1)
        glob = torch.cat([self.seconds_start, self.seconds_end], dim=2)
        if drop is not None:
            cross = torch.where(drop.to(cross.device)[:, None, None], torch.zeros_like(cross), cross)
        if not cfg:
            return cross, glob
        return torch.cat([torch.zeros_like(cross), cross]), torch.cat([glob, glob])


class _InjectedNoise:
    """A noise sampler that returns the given noise once (``SAOBackbone.step(noise=...)``)."""

    def __init__(self, noise: torch.Tensor):
        self.noise = noise

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        return self.noise


class SAOSchedule:
    """A fresh ``CosineDPMSolverMultistepScheduler`` set to ``steps`` (:class:`~difftone.models.backbone.Schedule`)."""

    def __init__(self, template, steps: int, device):
        self.scheduler = type(template).from_config(template.config)
        self.scheduler.set_timesteps(int(steps), device=device)
        self.steps = int(steps)
        self.timesteps = self.scheduler.timesteps
        self.sigmas = [float(s) for s in self.scheduler.sigmas]
        self.noise_bounds = noise_bounds(self.scheduler)
        self.order = int(self.scheduler.config.solver_order)
        self.device = device

    def start(
        self, latents: torch.Tensor, seeds: Sequence[int], step: int = 0, prev_x0: torch.Tensor | None = None
    ) -> None:
        s = self.scheduler
        s.set_begin_index(int(step))
        if step > 0:
            if prev_x0 is None:
                raise ValueError(f"resuming at step {step} needs x0_hat of step {step - 1}")
            s.model_outputs = [None] * (self.order - 1) + [prev_x0.to(device=self.device, dtype=torch.float32)]
            s.lower_order_nums = min(int(step), self.order)
        s.noise_sampler = make_noise_sampler(s, latents, seeds)

    def noise_scale(self, step: int) -> float:
        """SDE-DPM-Solver++'s noise factor of step ``step``: sigma_{k+1} sqrt(1 - e^{-2h}), h = ln(sigma_k /
        sigma_{k+1}), i.e. sigma_{k+1} sqrt(1 - (sigma_{k+1} / sigma_k)^2) (the scheduler's first- and
        second-order updates share it); 0 at the last step (sigma_N = 0)."""
        s_k, s_next = self.sigmas[int(step)], self.sigmas[int(step) + 1]
        if s_next <= 0.0:
            return 0.0
        return float(s_next * (1.0 - (s_next / s_k) ** 2) ** 0.5)


@dataclass
class SAOBackbone:
    """Stable Audio Open's parts (as ``StableAudioPipeline`` takes them) and the backbone operations."""

    transformer: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    projection_model: Any
    scheduler: Any
    spec: str = ""
    window: str = "full"  # model.window: full | duration
    window_margin: int = 8  # model.window_margin_frames: frames past the duration (window duration)

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise ValueError(f"model.window must be one of {', '.join(WINDOWS)}, got {self.window!r}")
        if int(self.window_margin) < 0:
            raise ValueError(f"model.window_margin_frames must be >= 0, got {self.window_margin}")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def denoiser(self) -> torch.nn.Module:
        return self.transformer

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    @property
    def sample_rate(self) -> int:
        return int(self.vae.sampling_rate)

    @property
    def hop_length(self) -> int:
        return int(self.vae.hop_length)

    @property
    def latent_rate(self) -> float:
        """Latent frames per second (44100 / 2048 = 21.53 for SAO)."""
        return self.sample_rate / self.hop_length

    @property
    def latent_channels(self) -> int:
        return int(self.transformer.config.in_channels)

    @property
    def window_frames(self) -> int:
        """Latent frames the DiT always denoises (``sample_size``), whatever the duration."""
        return int(self.transformer.config.sample_size)

    @property
    def max_duration(self) -> float:
        """Longest duration in seconds the model can generate (47.55 s for SAO)."""
        return self.window_frames * self.hop_length / self.sample_rate

    def frames_for(self, duration: float) -> int:
        """Latent frames that cover ``duration`` seconds (65 for 3 s)."""
        samples = samples_in(duration, self.sample_rate)
        return min(self.window_frames, -(-samples // self.hop_length))

    def window_for(self, duration: float) -> int:
        """Frames a new run of ``duration`` denoises: ``window_frames`` (``full``), or the duration's frames
        plus ``window_margin`` (``duration``), never more than the DiT's window."""
        if self.window == "full":
            return self.window_frames
        return min(self.window_frames, self.frames_for(duration) + int(self.window_margin))

    def cross_attention_layers(self) -> dict[str, torch.nn.Module]:
        """The DiT blocks' ``attn2`` (keys from the prompt embeddings + seconds tokens)."""
        return cross_attention_modules(self.transformer)

    def as_pipeline_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COMPONENT_NAMES}

    # -- conditioning ----------------------------------------------------------------------------
    def encode_prompts(self, prompts: Sequence[str], duration: float) -> SAOConditioning:
        """The pipeline's ``encode_prompt`` + ``encode_duration`` (start 0, end ``duration``) for the cond
        half. Grad flows when enabled (demo training); the text encoder is not switched to eval here."""
        prompts = list(prompts)
        proj = self.projection_model
        text = self._text(prompts, self.tokenizer.model_max_length)
        b = len(prompts)
        seconds = proj(
            start_seconds=torch.zeros(b, device=proj.device),
            end_seconds=torch.full((b,), float(duration), device=proj.device),
        )
        return SAOConditioning(text, seconds.seconds_start_hidden_states, seconds.seconds_end_hidden_states)

    def _text(self, texts: Sequence[str], length: int) -> torch.Tensor:
        proj = self.projection_model
        tok = self.tokenizer(
            list(texts), padding="max_length", max_length=int(length), truncation=True, return_tensors="pt"
        )
        ids, mask = tok.input_ids.to(proj.device), tok.attention_mask.to(proj.device)
        text = self.text_encoder(ids, attention_mask=mask)[0]
        text = proj(text_hidden_states=text).text_hidden_states
        return text * mask.unsqueeze(-1).to(text.dtype)

    def encode_text(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """The projected, masked T5 states of ``texts`` padded/truncated to ``length`` tokens."""
        with torch.no_grad():
            return self._text(texts, length).float()

    # -- noise and schedule --------------------------------------------------------------------------
    def initial_noise(self, seeds: Sequence[int], frames: int | None = None) -> torch.Tensor:
        """x_0: unit Gaussian noise from one CPU generator per seed (as the pipeline with a list of CPU
        generators), scaled by the scheduler's ``init_noise_sigma``; float32 on the device. ``frames``: the
        first frames of the whole window's noise (``window_for``; default the whole window)."""
        from diffusers.utils.torch_utils import randn_tensor

        frames = self.window_frames if frames is None else int(frames)
        if not 1 <= frames <= self.window_frames:
            raise ValueError(f"x_0 of {frames} frames: the DiT's window has 1 to {self.window_frames}")
        shape = (len(seeds), self.latent_channels, self.window_frames)
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        noise = randn_tensor(shape, generator=generators, device=torch.device("cpu"), dtype=torch.float32)
        return noise[:, :, :frames].to(self.device) * self.scheduler.init_noise_sigma

    def new_schedule(self, steps: int) -> SAOSchedule:
        return SAOSchedule(self.scheduler, steps, self.device)

    # -- the denoiser ------------------------------------------------------------------------------------
    def rotary(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return rotary_embedding(self.transformer, length, self.device)

    def velocity(
        self, model_input: torch.Tensor, t: torch.Tensor, cross: torch.Tensor, glob: torch.Tensor, rotary=None
    ) -> torch.Tensor:
        """One DiT call: v for ``model_input`` ``[B, C, W]`` at time ``t`` (scalar or [B])."""
        dtype = self.transformer.dtype
        if rotary is None:
            rotary = self.rotary(model_input.shape[2] + glob.shape[1])
        t = t.reshape(-1) if t.dim() else t.unsqueeze(0)
        return self.transformer(
            model_input.to(dtype),
            t,
            encoder_hidden_states=cross.to(dtype),
            global_hidden_states=glob.to(dtype),
            rotary_embedding=rotary,
            return_dict=False,
        )[0].float()

    def predict(
        self, latents: torch.Tensor, step: int, schedule: SAOSchedule, cond: SAOConditioning, guidance_scale: float
    ) -> Prediction:
        """One guided DiT evaluation at ``step`` (CFG batch ``[uncond; cond]`` when guidance > 1); x0_hat =
        ``precondition_outputs(x, v, sigma_step)``. Leaves the schedule's state alone."""
        s = schedule.scheduler
        cfg = guidance_scale > 1.0
        t, sigma = s.timesteps[step], s.sigmas[step]
        x = latents.to(device=self.device, dtype=torch.float32)
        model_input = s.precondition_inputs(torch.cat([x] * 2) if cfg else x, sigma)
        cross, glob = cond.dit_inputs(cfg)
        v = self.velocity(model_input, t, cross, glob)
        if cfg:
            v_uncond, v_cond = v.chunk(2)
            v = v_uncond + guidance_scale * (v_cond - v_uncond)
        return Prediction(v, s.precondition_outputs(x, v, sigma))

    def input_scale(self, schedule: SAOSchedule, step: int) -> float:
        """``precondition_inputs``' factor c_in = 1 / sqrt(sigma^2 + sigma_data^2)."""
        s = schedule.scheduler
        sigma = float(s.sigmas[step])
        return 1.0 / (sigma**2 + float(s.config.sigma_data) ** 2) ** 0.5

    def step(
        self,
        schedule: SAOSchedule,
        prediction: Prediction,
        step: int,
        latents: torch.Tensor,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        s = schedule.scheduler
        if s.step_index is not None and s.step_index != step:
            raise ValueError(f"the schedule is at step {s.step_index}, not {step}: steps must run in order")
        if noise is None:
            return s.step(prediction.output, s.timesteps[step], latents).prev_sample
        tree, s.noise_sampler = s.noise_sampler, _InjectedNoise(noise.to(latents.device))
        try:
            return s.step(prediction.output, s.timesteps[step], latents).prev_sample
        finally:
            s.noise_sampler = tree

    # -- audio ----------------------------------------------------------------------------------------
    def encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveforms ``[B, ch, samples]`` at ``sample_rate`` -> latents ``[B, C, T]`` (posterior mode)."""
        with torch.no_grad():
            wave = wave.to(device=self.vae.device, dtype=self.vae.dtype)
            return self.vae.encode(wave).latent_dist.mode()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, T]`` -> waveforms ``[B, ch, T * hop_length]``."""
        with torch.no_grad():
            latents = latents.to(device=self.vae.device, dtype=self.vae.dtype)
            return self.vae.decode(latents).sample
