"""Inputs longer than the training clip, read as windows of the training length.

The classifiers are trained on IRMAS clips (3 s). A longer input (a 10 s generation,
its latents, x0_hat at every denoising step) is cut into windows of exactly the
training length, ``hop`` (a fraction of the window) apart, the last one ending at
the input's end; the classifier reads every window (one batch) and the logits are
aggregated over the windows. An input no longer than the window plus a tolerance
of rounding (a few percent: 3 s of audio gives 64 or 65 latent frames depending on
the encoder's padding) is read whole, as before windowing existed.

The one implementation, :func:`windowed`, works on the last axis of any tensor, so
it serves the teacher (waveforms, before any feature extraction: whatever features
the teacher reads), the distilled and non-distilled latent classifiers and the
engine's per-step hook on x0_hat (latent frames).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

AGGREGATES = ("mean_probs", "mean_logits")
LENGTH_TOLERANCE = 0.05  # inputs up to 5% longer than the window are read whole


@dataclass(frozen=True)
class Windowing:
    """``classifiers.window`` of the config: hop as a fraction of the window, aggregation of the logits.

    ``mean_probs``: the mean of the windows' softmax, returned as its log (so that a softmax of
    the result gives that mean); ``mean_logits``: the mean of the windows' logits.
    """

    hop: float = 0.5
    aggregate: str = "mean_probs"

    def __post_init__(self):
        if not 0 < self.hop <= 1:
            raise ValueError(f"classifiers.window.hop must be in (0, 1] (a fraction of the window), got {self.hop}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"classifiers.window.aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}"
            )

    @classmethod
    def of(cls, value: Windowing | Mapping[str, Any] | None) -> Windowing:
        if isinstance(value, Windowing):
            return value
        return cls(**dict(value or {}))


def window_starts(total: int, length: int, hop: float) -> list[int]:
    """Start indices of the windows of ``length`` covering ``total`` (``[0]`` when it fits, with tolerance)."""
    if total <= math.floor(length * (1 + LENGTH_TOLERANCE)):
        return [0]
    step = max(1, round(length * hop))
    starts = list(range(0, total - length + 1, step))
    if starts[-1] != total - length:
        starts.append(total - length)  # the last window ends at the end
    return starts


def windowed(
    classify: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    length: int | None,
    windowing: Windowing | Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """``classify`` on windows of ``length`` along the last axis of ``x [B, ..., T]``, aggregated: logits ``[B, n]``.

    ``length`` None (a classifier that does not know its training length) reads ``x`` whole.
    """
    w = Windowing.of(windowing)
    starts = [0] if length is None else window_starts(x.shape[-1], int(length), w.hop)
    if len(starts) == 1:
        return classify(x)
    batch = x.shape[0]
    # window-major batch [W * B, ..., length]: one forward pass for every window of every item
    chunks = torch.cat([x[..., s : s + length] for s in starts], dim=0)
    logits = classify(chunks).float().reshape(len(starts), batch, -1)
    if w.aggregate == "mean_logits":
        return logits.mean(dim=0)
    return torch.log(torch.softmax(logits, dim=-1).mean(dim=0).clamp_min(1e-12))
