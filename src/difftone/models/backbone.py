"""The backbone interface: the operations the editing loop needs from a text-to-audio diffusion model.

The engine (:mod:`difftone.engine`) talks to a model only through these operations, so a
second backbone (AudioLDM2: a UNet, epsilon prediction, a DDIM scheduler, two text
streams) implements :class:`Backbone` and :class:`Schedule` and nothing in the engine
changes. Stable Audio Open and the demo family implement it in :mod:`difftone.models.sao`.

One denoising run, as :meth:`difftone.engine.Editor.denoise` drives it::

    cond = backbone.encode_prompts(prompts, duration)         # Conditioning, cond half only
    x = backbone.initial_noise(seeds, backbone.window_for(d)) # x_0 [B, C, W] (W = window_frames by default)
    schedule = backbone.new_schedule(steps)                   # fresh scheduler state for N steps
    schedule.start(x, seeds, step=k, prev_x0=x0_hat_{k-1})    # k = 0, or resume at step k
    for i in range(k, steps):
        pred = backbone.predict(x, i, schedule, cond, guidance_scale)   # one guided evaluation
        x = backbone.step(schedule, pred, i, x, noise=None)   # x_{i+1}; pred.x0_hat goes to the hooks
    audio = backbone.decode(x)

Contracts an implementation must keep:

- ``predict`` is *one* guided denoiser evaluation per sample (the unconditional half of
  classifier-free guidance is built inside it, from the conditioning's ``unconditional``
  rule) and works with grad enabled: MusicMagus takes a gradient step on ``x`` through it.
  It returns the guided model output (whatever the backbone's parameterization: v for
  SAO, epsilon for AudioLDM2) and ``x0_hat``, the prediction of the clean latent that
  the scheduler's step will use. x0_hat always comes from the backbone, never from a
  scheduler's private state in the engine.
- ``predict`` must not change the schedule's state (a probe evaluates any step ``i``
  without stepping); ``step`` advances it by one step and must be called with the
  steps in order from the ``start`` step.
- ``step(..., noise=n)`` uses ``n`` (shaped like ``x``) as the step's stochastic term
  instead of the schedule's own noise (edit-friendly inversion injects its noise maps).
  A deterministic scheduler (DDIM, eta 0) may ignore it only if its step has no noise term.
  The step is affine in the noise: ``step(noise=n) = step(noise=0) + schedule.noise_scale(i) * n``
  (:mod:`difftone.engine.inversion` relies on it; ``tests/test_inversion.py`` checks it).
- The noise of step ``i`` depends only on the seeds and the schedule, not on the batch,
  the prompt or the start step: so a run resumed at step ``k`` from ``x_k`` and
  ``x0_hat_{k-1}`` equals the uninterrupted run (``tests/test_engine.py``).
- ``schedule.sigmas``: the N+1 noise levels of ``x_0 .. x_N`` as floats (a VP backbone
  reports ``sqrt((1 - alpha_bar) / alpha_bar)``); ``noise_bounds`` and ``order`` are stored in
  the trajectory so that a cache made by another schedule is refused.
- :class:`Conditioning` is batch-first and indexable; ``text`` is the tensor of prompt
  embeddings a caller may shift (``cond.replace(text=cond.text + direction)``).
- ``denoiser``: the network module (SAO's ``StableAudioDiTModel``, AudioLDM2's UNet).
- ``cross_attention_layers()``: name -> diffusers ``Attention`` module of every layer whose
  keys come from the text conditioning (MusicMagus installs its attention processors there);
  an empty mapping means the backbone has none.
- ``input_scale(schedule, i)``: the factor the denoiser's input is ``x_i`` scaled by (a latent
  update defined on the model input, as MusicMagus' SGD step, is converted with it).
- ``encode_text(texts, length)``: the tensor ``Conditioning.text`` holds, for texts padded or
  truncated to ``length`` tokens (MusicMagus' caption embeddings, averaged per position).
  ``Conditioning.text_fields`` names the fields that belong to that stream (the text and its
  mask): they travel together when a caller builds a conditioning from two prompts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import torch

C = TypeVar("C", bound="Conditioning")


@dataclass
class Conditioning:
    """The conditional half of a backbone's conditioning for a batch of prompts.

    Every field is a batch-first tensor (a subclass adds its own fields, e.g. SAO's
    seconds embeddings, AudioLDM2's second text stream and mask). ``text``: the prompt
    embeddings ``[B, L, D]`` a caller may shift. Indexing keeps the batch dimension
    (``cond[1]`` has batch 1).
    """

    text: torch.Tensor
    text_fields: ClassVar[tuple[str, ...]] = ("text",)  # the shiftable stream and its companions (mask)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def __getitem__(self: C, index) -> C:
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return type(self)(**{k: v[index] for k, v in self.tensors().items()})

    def replace(self: C, **tensors: torch.Tensor) -> C:
        """A copy with some tensors replaced (e.g. ``text=cond.text + direction``)."""
        return dataclasses.replace(self, **tensors)

    def expand(self: C, n: int) -> C:
        """A batch-1 conditioning repeated ``n`` times."""
        if len(self) != 1:
            raise ValueError(f"expand needs a conditioning of batch 1, got {len(self)}")
        return type(self)(**{k: v.expand(n, *v.shape[1:]) for k, v in self.tensors().items()})

    @classmethod
    def cat(cls: type[C], conds: Sequence[C]) -> C:
        if not conds:
            raise ValueError("cannot concatenate no conditionings")
        kind = type(conds[0])
        if any(type(c) is not kind for c in conds):
            raise TypeError("cannot concatenate conditionings of different backbones")
        return kind(**{k: torch.cat([getattr(c, k) for c in conds]) for k in conds[0].tensors()})

    def to(self: C, device) -> C:
        return type(self)(**{k: v.to(device) for k, v in self.tensors().items()})


@dataclass
class Prediction:
    """One guided denoiser evaluation: the model output the scheduler steps with, and x0_hat."""

    output: torch.Tensor  # [B, C, W] guided model output (v for SAO, epsilon for a UNet backbone)
    x0_hat: torch.Tensor  # [B, C, W] prediction of the clean latent (float32)


@runtime_checkable
class Schedule(Protocol):
    """A fresh scheduler state for one run of ``steps`` steps."""

    steps: int
    timesteps: torch.Tensor  # [N] the model's time input of each step
    sigmas: list[float]  # N+1 noise levels of x_0 .. x_N
    noise_bounds: tuple[float, float]  # the interval the stochastic noise is drawn on (stored in trajectories)
    order: int  # the solver's order (how many past x0_hat a resume needs: 1 here for order 2)

    def start(
        self, latents: torch.Tensor, seeds: Sequence[int], step: int = 0, prev_x0: torch.Tensor | None = None
    ) -> None:
        """Prepare to run steps ``step..N-1`` from ``latents`` (= x_step), with one noise stream per seed;
        ``prev_x0``: x0_hat of step ``step - 1`` (needed when ``step > 0`` by multistep solvers)."""

    def noise_scale(self, step: int) -> float:
        """s_step: the factor of the noise in step ``step``'s update, ``x_{step+1} = mu + s_step * noise``
        (mu: the step with zero noise). Edit-friendly inversion solves the noise maps with it; 0 for a
        step without a noise term (SAO's last step, a DDIM step with eta 0)."""


@runtime_checkable
class Backbone(Protocol):
    spec: str

    @property
    def device(self) -> torch.device: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def latent_channels(self) -> int: ...

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame (the window in samples is ``window_frames * hop_length``)."""

    @property
    def window_frames(self) -> int:
        """Latent frames every run denoises, whatever the duration."""

    @property
    def max_duration(self) -> float: ...

    @property
    def denoiser(self) -> torch.nn.Module:
        """The network (DiT or UNet): attention processors are installed here."""

    def frames_for(self, duration: float) -> int:
        """Latent frames that cover ``duration`` seconds (what a classifier reads)."""

    def cross_attention_layers(self) -> dict[str, torch.nn.Module]:
        """Name -> ``Attention`` module of every text cross-attention layer of ``denoiser`` (may be empty)."""

    def encode_text(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """``Conditioning.text`` of ``texts`` at exactly ``length`` tokens ``[B, length, D]`` (no grad)."""

    def encode_prompts(self, prompts: Sequence[str], duration: float) -> Conditioning: ...

    def window_for(self, duration: float) -> int:
        """Latent frames a new run of ``duration`` seconds denoises (``window_frames``, or fewer when the
        backbone denoises only the duration plus a margin: SAO's ``model.window: duration``)."""

    def initial_noise(self, seeds: Sequence[int], frames: int | None = None) -> torch.Tensor:
        """x_0 ``[B, C, frames]`` (default ``window_frames``) float32 on the device, one generator per seed."""

    def new_schedule(self, steps: int) -> Schedule: ...

    def predict(
        self, latents: torch.Tensor, step: int, schedule: Schedule, cond: Conditioning, guidance_scale: float
    ) -> Prediction:
        """One guided denoiser evaluation at ``step`` (grad allowed; does not change ``schedule``)."""

    def input_scale(self, schedule: Schedule, step: int) -> float:
        """c: the denoiser reads ``c * x_step`` at ``step`` (SAO: 1 / sqrt(sigma^2 + sigma_data^2); DDIM: 1).
        A gradient step taken on the model input (MusicMagus) is ``x - lr * grad_x / c**2`` on the latent."""

    def step(
        self,
        schedule: Schedule,
        prediction: Prediction,
        step: int,
        latents: torch.Tensor,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x_{step+1} from x_step and the prediction; ``noise`` replaces the schedule's own noise."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, T]`` -> audio ``[B, ch, samples]`` at ``sample_rate``."""

    def encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, ch, samples]`` at ``sample_rate`` -> latents ``[B, C, T]`` (deterministic)."""


def samples_in(duration: float, sample_rate: int) -> int:
    """Whole samples in ``duration`` seconds (truncated), exact for a duration computed from a sample count:
    ``n / sr * sr`` may come back as ``n - 1e-10`` (522240 / 44100 * 44100 = 522239.99...), which plain
    truncation would cut to ``n - 1``; a shortfall under a millionth of a sample counts as float error."""
    return int(math.floor(float(duration) * int(sample_rate) + 1e-6))


def cross_attention_modules(network: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Name -> diffusers ``Attention`` module of every cross-attention layer of ``network`` (its keys and
    values come from ``encoder_hidden_states``), in module order. Shared by the backbones."""
    from diffusers.models.attention_processor import Attention

    return {
        name: m
        for name, m in network.named_modules()
        if isinstance(m, Attention) and getattr(m, "is_cross_attention", False)
    }
