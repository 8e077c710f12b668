"""Edit-friendly DDPM inversion on the backbone's own sampler: a recording -> a :class:`Trajectory`.

What it follows:

- Huberman-Spiegelglas, Kulikov & Michaeli, "An Edit Friendly DDPM Noise Space" (CVPR 2024), and
  for audio and SAO, ZETA (Manor & Michaeli, ICML 2024), ``code/ddm_inversion/inversion_utils.py``
  (``inversion_forward_process``: noisy sequence drawn independently per step, noise maps from the
  solver update, ``numerical_fix``) and its ``StableAudWrapper`` (``get_zs_from_xts`` on SAO's
  ``CosineDPMSolverMultistepScheduler``) in HilaManor/AudioEditingCode;
- diffusers' LEDITS++ ``compute_noise_sde_dpm_pp_2nd`` (the same extraction for a VP
  DPM-Solver++ SDE).

The algorithm, for ``w0`` = the VAE encoding of the recording (posterior mode, padded to the
model's window) and the source prompt at its guidance:

1. x_k = w0 + sigma_k eps_k for k = 0..N-1 (eps_k independent, from the seed; EDM form, no
   alpha), x_N = w0;
2. for k = 0..N-1: D_k = x0_hat of the guided denoiser at x_k; mu_k = the scheduler's own
   step from x_k with **zero noise** (first or second order exactly as the sampler decides,
   with its history D_{k-1}; :meth:`Backbone.step` ``noise=0``), s_k =
   :meth:`Schedule.noise_scale` (SAO: sigma_{k+1} sqrt(1 - e^{-2h_k})); the noise map
   z_k = (x_{k+1} - mu_k) / s_k, and x_{k+1} := mu_k + s_k z_k (ZETA's numerical fix: the
   next step sees exactly what the sampler will see);
3. the last step has s_{N-1} = 0 (sigma_N = 0), so its output is D_{N-1}, not w0 (ZETA's
   reconstruction is close, not exact): the residual w0 - mu_{N-1} is stored and added back
   after the last step, so resuming with the source prompt at any step k reproduces w0.

Editing = :meth:`Editor.resume` of this trajectory at the swap step with the target prompt,
injecting the same z_k (and adding the residual): exactly a swap at step k, so the step
choice of every strategy (the classifier trace over these x0_hat) applies unchanged.
Only the backbone interface is used (``predict``, ``step(noise=)``, ``noise_scale``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from difftone.engine.loop import EditError, Editor
from difftone.engine.trajectory import Trajectory

log = logging.getLogger(__name__)


def noisy_sequence(w0: torch.Tensor, sigmas: Sequence[float], seeds: Sequence[int]) -> torch.Tensor:
    """``[B, N+1, C, W]``: x_k = w0 + sigma_k eps_k (k < N; one CPU generator per seed), x_N = w0."""
    n = len(sigmas) - 1
    out = []
    for b, seed in enumerate(seeds):
        gen = torch.Generator("cpu").manual_seed(int(seed))
        eps = torch.randn((n, *w0.shape[1:]), generator=gen, dtype=torch.float32)
        x = w0[b].float().cpu().unsqueeze(0) + torch.tensor(sigmas[:n], dtype=torch.float32)[:, None, None] * eps
        out.append(torch.cat([x, w0[b].float().cpu().unsqueeze(0)]))
    return torch.stack(out)


@torch.no_grad()
def invert_latents(
    editor: Editor,
    w0: torch.Tensor,
    prompts: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    duration: float,
    guidance_scale: float,
    *,
    target_guidance_scale: float | None = None,
    recordings: Sequence[dict] | None = None,
) -> list[Trajectory]:
    """Invert the clean latents ``w0`` ``[B, C, window_frames]`` (module doc) under the source ``prompts``
    and ``guidance_scale``; one :class:`Trajectory` per item (origin ``inverted``: noise maps, residual,
    the classifier trace of the editor's classifier on x0_hat, ``audio`` = the decoded ``w0``)."""
    backbone = editor.backbone
    prompts, seeds = list(prompts), [int(s) for s in seeds]
    if not len(prompts) == len(seeds) == int(w0.shape[0]):
        raise EditError(f"got {w0.shape[0]} latents, {len(prompts)} prompts and {len(seeds)} seeds")
    window = backbone.window_for(duration)
    if tuple(w0.shape[1:]) != (backbone.latent_channels, window):
        raise EditError(
            f"latents {tuple(w0.shape[1:])} do not fill the model's window "
            f"({backbone.latent_channels}, {window}); pad the audio to the window"
        )
    editor.check_settings(steps, duration, guidance_scale)
    frames = backbone.frames_for(duration)
    schedule = editor.new_schedule(steps)
    sigmas = [float(s) for s in schedule.sigmas]
    xs = noisy_sequence(w0, sigmas, seeds).to(backbone.device)  # [B, N+1, C, W]
    hooks = list(editor.hooks)
    cond = editor.encode(prompts, duration)
    nfe0 = editor.nfe
    x = xs[:, 0]
    schedule.start(x, seeds, step=0)
    # recorded on the device in float32 (an inversion's reconstruction is exact only in float32), copied once
    states, x0s, noise = [x.float()], [], []
    residual = None
    for k in tqdm(
        range(steps), desc="invert", leave=False, disable=None if editor.progress is None else not editor.progress
    ):
        prediction = editor.predict(x, k, schedule, cond, guidance_scale)
        mu = backbone.step(schedule, prediction, k, x, noise=torch.zeros_like(x))
        s = float(schedule.noise_scale(k))
        if s > 0:
            z = (xs[:, k + 1] - mu) / s
            x = mu + s * z  # the numerical fix
        elif k == steps - 1:
            z = torch.zeros_like(mu)
            residual = xs[:, k + 1] - mu
            x = mu + residual
        else:
            raise EditError(
                f"step {k} of {backbone.spec or 'the model'}'s sampler has no noise term: "
                "edit-friendly inversion needs a stochastic sampler"
            )
        for hook in hooks:
            hook(k, sigmas[k], prediction.x0_hat[:, :, :frames])
        states.append(x.float())
        x0s.append(prediction.x0_hat.float())
        noise.append(z.float())
    if residual is None:
        residual = torch.zeros_like(x)
    audio = editor.decode(x, duration)
    latents, x0_hat, noise_maps = (torch.stack(t, 1).cpu() for t in (states, x0s, noise))
    traces = editor.read_traces(x0_hat, sigmas, frames)  # the classifier's trace: one batched call
    per_item = (editor.nfe - nfe0) // len(prompts)
    log.info(
        "inverted %d recording(s): %d steps, %d NFE each, |residual| %.3g",
        len(prompts),
        steps,
        per_item,
        float(residual.abs().max()),
    )
    return [
        Trajectory(
            prompt=prompts[b],
            seed=seeds[b],
            steps=int(steps),
            duration=float(duration),
            guidance_scale=float(guidance_scale),
            sigmas=sigmas,
            noise_bounds=tuple(float(v) for v in schedule.noise_bounds),
            solver_order=int(schedule.order),
            latents=latents[b],
            x0_hat=x0_hat[b],
            audio=audio[b],
            sample_rate=backbone.sample_rate,
            latent_frames=frames,
            trace=traces[b],
            nfe=per_item,
            model=backbone.spec,
            origin="inverted",
            noise=noise_maps[b],
            residual=residual[b].float().cpu(),
            target_guidance_scale=None if target_guidance_scale is None else float(target_guidance_scale),
            recording=None if recordings is None else dict(recordings[b]),
            window="full" if latents.shape[-1] == backbone.window_frames else "duration",
        )
        for b in range(len(prompts))
    ]


def window_wave(wave: torch.Tensor, backbone) -> torch.Tensor:
    """Audio ``[B, ch, n]`` zero-padded to the model's window (``window_for(duration) * hop``; the whole window
    by default), as ZETA pads SAO's input."""
    window = int(backbone.window_for(int(wave.shape[-1]) / backbone.sample_rate)) * int(backbone.hop_length)
    n = int(wave.shape[-1])
    if n > window:
        raise EditError(f"{n} samples are longer than the model's window of {window}")
    return torch.nn.functional.pad(wave, (0, window - n))


def invert_audio(
    editor: Editor,
    wave: torch.Tensor,
    prompts: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    guidance_scale: float,
    *,
    target_guidance_scale: float | None = None,
    recordings: Sequence[dict] | None = None,
) -> list[Trajectory]:
    """Audio ``[B, ch, n]`` at the backbone's rate and channels (``difftone.real_audio.load_recording``
    prepares it) -> inverted trajectories of duration ``n / sample_rate``."""
    backbone = editor.backbone
    duration = int(wave.shape[-1]) / backbone.sample_rate
    w0 = backbone.encode_audio(window_wave(wave.float(), backbone).to(backbone.device)).float()
    return invert_latents(
        editor,
        w0,
        prompts,
        seeds,
        steps,
        duration,
        guidance_scale,
        target_guidance_scale=target_guidance_scale,
        recordings=recordings,
    )
