"""Per-step hooks of the denoising loop, and the classifier's trace.

A hook is any callable ``hook(step: int, sigma: float, x0_hat: Tensor[B, C, frames])``
called after every denoiser step with the prediction of the clean latent, cropped to
the latent frames of the requested duration (diffusers denoises the whole window).

The classifier's trace is not a per-step hook on the critical path: a source generation
records x0_hat on the device anyway (the resume cache), so :meth:`ClassifierHook.read`
classifies every step of every sample in one batched call after the run (chunks of
``batch`` inputs), which gives the trace the per-step call gives (``tests/test_speed.py``).
Calling the hook per step (``hook(step, sigma, x0_hat)``) still works for other loops.
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np
import torch

from difftone.engine.trajectory import Trace


class StepHook(Protocol):
    def __call__(self, step: int, sigma: float, x0_hat: torch.Tensor) -> None: ...


class ClassifierHook:
    """Runs a latent instrument classifier on x0_hat at every step and records its probabilities.

    ``classifier``: an ``nn.Module`` with ``instruments`` (IRMAS codes) mapping
    ``[B, C, T]`` to logits ``[B, n_classes]``. ``seconds``/``calls`` time the hook.
    """

    def __init__(self, classifier: torch.nn.Module):
        if not hasattr(classifier, "instruments"):
            raise TypeError("the classifier must have an `instruments` attribute (list of IRMAS codes)")
        self.classifier = classifier.eval()
        self.instruments = list(classifier.instruments)
        self.seconds = 0.0
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self._probs: dict[int, torch.Tensor] = {}
        self._sigmas: dict[int, float] = {}

    @torch.no_grad()
    def __call__(self, step: int, sigma: float, x0_hat: torch.Tensor) -> None:
        start = time.perf_counter()
        param = next(self.classifier.parameters(), None)
        if param is not None:
            x0_hat = x0_hat.to(device=param.device, dtype=param.dtype)
        logits = self.classifier(x0_hat)
        self._probs[step] = torch.softmax(logits.float(), dim=-1).cpu()
        self._sigmas[step] = float(sigma)
        self.seconds += time.perf_counter() - start
        self.calls += 1

    @torch.no_grad()
    def read(self, x0_hat: torch.Tensor, sigmas, batch: int = 256) -> None:
        """Classify x0_hat of every step at once: ``x0_hat`` ``[B, steps, C, frames]`` (steps 0..steps-1,
        ``sigmas`` theirs), in chunks of ``batch`` inputs; records what ``steps`` per-step calls record."""
        start = time.perf_counter()
        b, n = int(x0_hat.shape[0]), int(x0_hat.shape[1])
        param = next(self.classifier.parameters(), None)
        flat = x0_hat.reshape(b * n, *x0_hat.shape[2:])
        if param is not None:
            flat = flat.to(device=param.device, dtype=param.dtype)
        probs = (
            torch.cat(
                [
                    torch.softmax(self.classifier(flat[i : i + batch]).float(), dim=-1)
                    for i in range(0, b * n, max(1, int(batch)))
                ]
            )
            .cpu()
            .reshape(b, n, -1)
        )
        for step in range(n):
            self._probs[step] = probs[:, step]
            self._sigmas[step] = float(sigmas[step])
        self.seconds += time.perf_counter() - start
        self.calls += 1

    def traces(self) -> list[Trace]:
        """One :class:`Trace` per sample of the batch, over the recorded steps in order."""
        steps = sorted(self._probs)
        if not steps:
            return []
        probs = torch.stack([self._probs[s] for s in steps], dim=1).numpy().astype(np.float64)  # [B, steps, K]
        sigmas = [self._sigmas[s] for s in steps]
        return [Trace(self.instruments, probs[b], sigmas) for b in range(probs.shape[0])]
