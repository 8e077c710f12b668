"""Percentile bootstrap confidence intervals and accuracy helpers.

Every table cell is ``estimate [low, high]``: the statistic on the data and the
``alpha/2`` and ``1 - alpha/2`` percentiles of the statistic over ``n_boot``
resamples with replacement (seeded: the same inputs give the same interval).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _check_values(values, name: str = "values") -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: nothing to compute a confidence interval on")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = np.mean,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Return ``(estimate, low, high)``: ``statistic(values)`` and its percentile bootstrap CI.

    One value gives a degenerate interval ``(v, v, v)``.
    """
    arr = _check_values(values)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    estimate = float(statistic(arr))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    stats = np.array([statistic(arr[i]) for i in idx], dtype=np.float64)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return estimate, float(low), float(high)


def top1_correct(predicted: Sequence, target: Sequence) -> np.ndarray:
    """0/1 per item: the predicted label (or argmax of a [N, C] logit array) equals the target."""
    pred = np.asarray(predicted)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    tgt = np.asarray(target)
    if pred.shape != tgt.shape:
        raise ValueError(f"{pred.shape[0] if pred.ndim else 0} predictions for {tgt.shape[0] if tgt.ndim else 0} targets")
    return (pred == tgt).astype(np.float64)


def accuracy_ci(
    predicted: Sequence, target: Sequence, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Top-1 accuracy with its percentile bootstrap CI: ``(accuracy, low, high)``."""
    return bootstrap_ci(top1_correct(predicted, target), n_boot=n_boot, seed=seed, alpha=alpha)
