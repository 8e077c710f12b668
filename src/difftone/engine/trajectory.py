"""A source's trajectory (a generation, or an inverted recording): what is needed to resume it at any step.

On-disk format (version 3), one folder per source::

    DIR/trajectory.json        metadata, UTF-8 JSON:
        format          "difftone-trajectory", version 3
        origin          "generated" (a seeded generation) | "inverted" (edit-friendly inversion of a recording,
                        difftone.engine.inversion)
        prompt, seed, steps (N), duration (s), guidance_scale, model (spec string)
        target_guidance_scale  null (edits use guidance_scale) | the guidance of the resumed (edited) steps
        recording       null | {path, sample_rate, channels, samples, gain}: the input of an inverted trajectory
        sample_rate, latent_frames (frames of the requested duration), window_frames (the width the run
                        denoised: the model's whole window, or the duration plus a margin with model.window duration)
        window          "full" | "duration" (model.window of the run; absent in versions 1, 2: "full")
        cache_dtype     "float32" | "float16": the dtype of latents, x0_hat and noise (generation.cache_dtype)
        sigmas          N+1 floats: sigma_0 (= sigma_max) ... sigma_N (= 0)
        noise_bounds    [lo, hi]: interval of the Brownian tree the SDE noise is drawn from
        solver_order    scheduler's solver order (2 for SAO)
        nfe             denoiser evaluations spent on this run
        trace           null, or the classifier trace on x0_hat (see Trace.to_dict):
                        {"instruments": [codes], "top1": [code per step], "probs": [[p per class] per step],
                         "sigmas": [sigma per step]}
    DIR/tensors.safetensors    tensors (latents, x0_hat, noise in cache_dtype; audio, residual float32):
        latents  [N+1, C, window_frames]  latents[k] is x_k, the input of step k; latents[N] the final latent
        x0_hat   [N, C, window_frames]    the prediction of x0 made at step k (after guidance)
        audio    [channels, samples]      the decoded source audio of the requested duration (float32)
                                          (inverted: the VAE reconstruction of the recording)
        noise    [N, C, window_frames]    inverted only: the noise map z_k injected at step k instead of the
                                          Brownian tree (z_{N-1} = 0: SAO's last step has no noise)
        residual [C, window_frames]       inverted only: w0 - mu_{N-1}, added after the last step, so that the
                                          source prompt reproduces the encoded recording exactly

Size: float16 halves a cache (the resume tolerance is measured in
``tests/test_speed.py``), and ``model.window: duration`` stores only the denoised frames
(the duration plus a margin) instead of the whole window: for SAO at 100 steps and 10 s,
(101 + 100) x 64 x 1024 x 4 B = 52.7 MB (float32, full window) becomes 26.3 MB (float16) and
201 x 64 x 224 x 2 B = 5.8 MB (float16, 216 + 8 frames), plus the audio (3.5 MB of float32) either way.

Versions 1 and 2 (float32 caches; version 1 from before inversion existed: no noise maps,
no residual, origin "generated") load unchanged, as float32. Other versions are refused
with an error that says to rerun the stage.

Resuming at step k needs x_k, x0_hat_{k-1} (the multistep solver's memory), the
scheduler state that follows from k (step index k, lower_order_nums = min(k, order)),
and the noise of steps k..N-1, which depends only on the seed, the sigmas and
``noise_bounds`` (a generation) or is stored (``noise``, an inversion): so an edit at step k
costs N-k denoiser steps.
The folder is written to a temporary name and renamed, never left half-written.
A folder of another format or version (both files carry them) is a :class:`TrajectoryError`
naming the file, never read as if it were this one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from difftone.files import atomic_folder

FORMAT = "difftone-trajectory"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 1: generations only (no stored noise, residual or origin); 1, 2: float32 caches
CACHED = ("latents", "x0_hat", "noise")  # stored in the cache dtype; audio and residual stay float32
REGENERATE = "rerun the stage that made it (source generation or inversion) to rewrite it"


class TrajectoryError(ValueError):
    """A trajectory folder of another format or version, or unreadable."""


def _readable() -> str:
    """``"1, 2 or 3"``: the versions this module reads."""
    names = [str(v) for v in READABLE_VERSIONS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_format(what: str | Path, fmt: Any, version: Any) -> None:
    """Raise :class:`TrajectoryError` unless ``fmt`` is this module's ``FORMAT`` and ``version`` one it reads."""
    if fmt != FORMAT:
        raise TrajectoryError(f"{what}: not a {FORMAT} (format {fmt!r}); {REGENERATE}")
    if version is None:
        raise TrajectoryError(f"{what}: no format version (this difftone reads version {_readable()}); {REGENERATE}")
    if str(version) not in {str(v) for v in READABLE_VERSIONS}:
        raise TrajectoryError(
            f"{what}: trajectory format version {version}, this difftone reads version {_readable()}; {REGENERATE}"
        )


@dataclass
class Trace:
    """The classifier's reading of x0_hat at every step of one generation."""

    instruments: list[str]
    probs: np.ndarray  # [steps, n_classes]
    sigmas: list[float] = field(default_factory=list)  # sigma of each step

    @property
    def top1(self) -> list[str]:
        return [self.instruments[i] for i in self.probs.argmax(axis=1)]

    @property
    def steps(self) -> int:
        return int(self.probs.shape[0])

    def change_steps(self) -> list[int]:
        """Steps i >= 1 where the top-1 differs from step i-1."""
        top1 = self.top1
        return [i for i in range(1, len(top1)) if top1[i] != top1[i - 1]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruments": list(self.instruments),
            "top1": self.top1,
            "probs": [[round(float(p), 6) for p in row] for row in self.probs],
            "sigmas": [float(s) for s in self.sigmas],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        return cls(list(d["instruments"]), np.asarray(d["probs"], dtype=np.float64), list(d.get("sigmas", [])))


@dataclass
class Trajectory:
    """A source generation: its audio, the classifier trace, and the resume cache."""

    prompt: str
    seed: int
    steps: int
    duration: float
    guidance_scale: float
    sigmas: list[float]
    noise_bounds: tuple[float, float]
    solver_order: int
    latents: torch.Tensor  # [N+1, C, T]
    x0_hat: torch.Tensor  # [N, C, T]
    audio: torch.Tensor  # [channels, samples]
    sample_rate: int
    latent_frames: int
    trace: Trace | None = None
    nfe: int = 0
    model: str = ""
    origin: str = "generated"  # "generated" | "inverted"
    noise: torch.Tensor | None = None  # [N, C, T] injected noise maps (inverted)
    residual: torch.Tensor | None = None  # [C, T] added after the last step (inverted)
    target_guidance_scale: float | None = None  # guidance of the edited steps; None: guidance_scale
    recording: dict[str, Any] | None = None  # the input file of an inverted trajectory
    window: str = "full"  # "full": latents span the model's whole window | "duration": the duration + a margin

    @property
    def edit_guidance_scale(self) -> float:
        """The guidance of a resumed (edited) run."""
        return float(self.guidance_scale if self.target_guidance_scale is None else self.target_guidance_scale)

    def noise_at(self, start: int, batch: int) -> dict[int, torch.Tensor]:
        """The stored noise maps of steps ``start..N-1`` expanded to ``batch`` (``{}`` for a generation)."""
        if self.noise is None:
            return {}
        return {i: self.noise[i].unsqueeze(0).expand(batch, -1, -1) for i in range(int(start), self.steps)}

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "prompt": self.prompt,
            "seed": self.seed,
            "steps": self.steps,
            "duration": self.duration,
            "guidance_scale": self.guidance_scale,
            "model": self.model,
            "sample_rate": self.sample_rate,
            "latent_frames": self.latent_frames,
            "window_frames": int(self.latents.shape[-1]),
            "cache_dtype": str(self.latents.dtype).removeprefix("torch."),
            "window": self.window,
            "sigmas": [float(s) for s in self.sigmas],
            "noise_bounds": [float(b) for b in self.noise_bounds],
            "solver_order": self.solver_order,
            "nfe": self.nfe,
            "origin": self.origin,
            "target_guidance_scale": self.target_guidance_scale,
            "recording": self.recording,
            "trace": None if self.trace is None else self.trace.to_dict(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the folder ``path`` (replacing an old one) via a temporary folder and a rename."""
        path = Path(path)
        with atomic_folder(path) as tmp:
            cache = self.latents.dtype if self.latents.dtype in (torch.float16, torch.float32) else torch.float32
            tensors = {}
            for name in ("latents", "x0_hat", "audio", "noise", "residual"):
                value = getattr(self, name)
                if value is not None:
                    tensors[name] = value.detach().to(cache if name in CACHED else torch.float32).cpu().contiguous()
            save_file(tensors, str(tmp / "tensors.safetensors"), metadata={"format": FORMAT, "version": str(VERSION)})
            (tmp / "trajectory.json").write_text(json.dumps(self.metadata(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        path = Path(path)
        meta_path, tensor_path = path / "trajectory.json", path / "tensors.safetensors"
        if not meta_path.is_file() or not tensor_path.is_file():
            raise FileNotFoundError(
                f"{path} is not a trajectory folder (needs trajectory.json and tensors.safetensors); "
                "rerun the source generation"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TrajectoryError(f"{meta_path}: not valid JSON ({exc}); {REGENERATE}") from None
        if not isinstance(meta, dict):
            raise TrajectoryError(f"{meta_path}: not a {FORMAT} (a JSON {type(meta).__name__}); {REGENERATE}")
        check_format(meta_path, meta.get("format"), meta.get("version"))
        try:
            with safe_open(str(tensor_path), framework="pt") as f:
                header = f.metadata() or {}
            tensors = load_file(str(tensor_path))
        except (SafetensorError, OSError) as exc:
            raise TrajectoryError(f"{tensor_path}: cannot be read ({exc}); {REGENERATE}") from None
        check_format(tensor_path, header.get("format"), header.get("version"))
        missing = [k for k in ("latents", "x0_hat", "audio") if k not in tensors]
        if missing:
            raise TrajectoryError(f"{tensor_path}: lacks the tensor(s) {', '.join(missing)}; {REGENERATE}")
        try:
            return cls._from(meta, tensors)
        except KeyError as exc:
            raise TrajectoryError(f"{meta_path}: lacks the key {exc}; {REGENERATE}") from None

    @classmethod
    def _from(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Trajectory:
        return cls(
            prompt=meta["prompt"],
            seed=int(meta["seed"]),
            steps=int(meta["steps"]),
            duration=float(meta["duration"]),
            guidance_scale=float(meta["guidance_scale"]),
            sigmas=list(meta["sigmas"]),
            noise_bounds=tuple(meta["noise_bounds"]),
            solver_order=int(meta["solver_order"]),
            latents=tensors["latents"],
            x0_hat=tensors["x0_hat"],
            audio=tensors["audio"],
            sample_rate=int(meta["sample_rate"]),
            latent_frames=int(meta["latent_frames"]),
            trace=None if meta["trace"] is None else Trace.from_dict(meta["trace"]),
            nfe=int(meta["nfe"]),
            model=meta.get("model", ""),
            origin=meta.get("origin", "generated"),
            noise=tensors.get("noise"),
            residual=tensors.get("residual"),
            target_guidance_scale=meta.get("target_guidance_scale"),
            recording=meta.get("recording"),
            window=meta.get("window", "full"),
        )
