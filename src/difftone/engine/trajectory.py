"""A source generation's trajectory: what is needed to resume it at any step.

On-disk format (version 1), one folder per source generation::

    DIR/trajectory.json        metadata, UTF-8 JSON:
        format          "difftone-trajectory", version 1
        prompt, seed, steps (N), duration (s), guidance_scale, model (spec string)
        sample_rate, latent_frames (frames of the requested duration), window_frames
        sigmas          N+1 floats: sigma_0 (= sigma_max) ... sigma_N (= 0)
        noise_bounds    [lo, hi]: interval of the Brownian tree the SDE noise is drawn from
        solver_order    scheduler's solver order (2 for SAO)
        nfe             denoiser evaluations spent on this run
        trace           null, or the classifier trace on x0_hat (see Trace.to_dict):
                        {"instruments": [codes], "top1": [code per step], "probs": [[p per class] per step],
                         "sigmas": [sigma per step]}
    DIR/tensors.safetensors    float32 tensors:
        latents  [N+1, C, window_frames]  latents[k] is x_k, the input of step k; latents[N] the final latent
        x0_hat   [N, C, window_frames]    the prediction of x0 made at step k (after guidance)
        audio    [channels, samples]      the decoded source audio of the requested duration

Resuming at step k needs x_k, x0_hat_{k-1} (the multistep solver's memory), the
scheduler state that follows from k (step index k, lower_order_nums = min(k, order)),
and the noise of steps k..N-1, which depends only on the seed, the sigmas and
``noise_bounds``: so an edit at step k costs N-k denoiser steps.
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
VERSION = 1
REGENERATE = "rerun the source generation (generate_sources) to rewrite it"


class TrajectoryError(ValueError):
    """A trajectory folder of another format or version, or unreadable."""


def check_format(what: str | Path, fmt: Any, version: Any) -> None:
    """Raise :class:`TrajectoryError` unless ``(fmt, version)`` is this module's ``(FORMAT, VERSION)``."""
    if fmt != FORMAT:
        raise TrajectoryError(f"{what}: not a {FORMAT} (format {fmt!r}); {REGENERATE}")
    if version is None:
        raise TrajectoryError(f"{what}: no format version (this difftone reads version {VERSION}); {REGENERATE}")
    if str(version) != str(VERSION):
        raise TrajectoryError(f"{what}: trajectory format version {version}, this difftone reads version {VERSION}; "
                              f"{REGENERATE}")


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
    def from_dict(cls, d: dict[str, Any]) -> "Trace":
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
            "sigmas": [float(s) for s in self.sigmas],
            "noise_bounds": [float(b) for b in self.noise_bounds],
            "solver_order": self.solver_order,
            "nfe": self.nfe,
            "trace": None if self.trace is None else self.trace.to_dict(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the folder ``path`` (replacing an old one) via a temporary folder and a rename."""
        path = Path(path)
        with atomic_folder(path) as tmp:
            tensors = {
                "latents": self.latents.detach().float().cpu().contiguous(),
                "x0_hat": self.x0_hat.detach().float().cpu().contiguous(),
                "audio": self.audio.detach().float().cpu().contiguous(),
            }
            save_file(tensors, str(tmp / "tensors.safetensors"), metadata={"format": FORMAT, "version": str(VERSION)})
            (tmp / "trajectory.json").write_text(json.dumps(self.metadata(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trajectory":
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
    def _from(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "Trajectory":
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
        )
