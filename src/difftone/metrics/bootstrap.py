"""Percentile bootstrap confidence intervals and accuracy helpers.

Every table cell is ``estimate [low, high]``: the statistic on the data and the
``alpha/2`` and ``1 - alpha/2`` percentiles of the statistic over ``n_boot``
resamples with replacement (seeded: the same inputs give the same interval).

Edits are not independent: the edits of one source generation share its audio
and (for most strategies) its swap step. :func:`cluster_bootstrap_ci` resamples
whole clusters (all of a source's edits together) and is what every edit table
uses; :func:`paired_difference_ci` is the same on the per-item difference of two
strategies over the same items. :func:`cluster_counts` gives the resample as a
count matrix, for set-level statistics (KAD) that reuse one draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    if statistic is np.mean:  # every resample's mean in one call: the same numbers as the loop, 50x faster
        stats = arr[idx].mean(axis=1)
    else:
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
        raise ValueError(
            f"{pred.shape[0] if pred.ndim else 0} predictions for {tgt.shape[0] if tgt.ndim else 0} targets"
        )
    return (pred == tgt).astype(np.float64)


def accuracy_ci(
    predicted: Sequence, target: Sequence, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Top-1 accuracy with its percentile bootstrap CI: ``(accuracy, low, high)``."""
    return bootstrap_ci(top1_correct(predicted, target), n_boot=n_boot, seed=seed, alpha=alpha)


def cluster_counts(n_clusters: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``[n_boot, n_clusters]``: how often each cluster is drawn in each resample of ``n_clusters`` clusters
    with replacement (seeded)."""
    if n_clusters < 1:
        raise ValueError("no clusters to resample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    counts = np.zeros((n_boot, n_clusters))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_clusters), picks.ravel()), 1.0)
    return counts


def cluster_codes(clusters: Sequence) -> tuple[np.ndarray, int]:
    """Integer code per item (clusters in sorted order) and the number of clusters."""
    arr = np.asarray(clusters)
    if arr.ndim != 1:
        raise ValueError(f"clusters must be one-dimensional, got shape {arr.shape}")
    _, codes = np.unique(arr, return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1 if arr.size else 0


def cluster_bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    clusters: Sequence,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its percentile interval when whole clusters are
    resampled (``clusters[i]`` names the cluster of item i, e.g. its source generation).

    A resample draws as many clusters as there are, with replacement, and takes the mean over all their
    items (clusters of unequal size weigh by their size, as in the plain mean). With one item per cluster
    this is the ordinary bootstrap of the mean.
    """
    arr = _check_values(values)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    codes, n_clusters = cluster_codes(clusters)
    if codes.shape != arr.shape:
        raise ValueError(f"{codes.size} cluster labels for {arr.size} values")
    sums = np.bincount(codes, weights=arr, minlength=n_clusters)
    sizes = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    counts = cluster_counts(n_clusters, n_boot, seed)
    stats = (counts @ sums) / (counts @ sizes)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(arr.mean()), float(low), float(high)


def paired_difference_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    clusters: Sequence,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``(mean(a - b), low, high)`` over paired items (``a[i]`` and ``b[i]``: one item under two methods),
    with the cluster bootstrap interval of :func:`cluster_bootstrap_ci`. An interval that excludes 0 is
    what "a differs from b" means in the tables."""
    x, y = _check_values(a, "a"), _check_values(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired difference needs as many items in a ({x.size}) as in b ({y.size})")
    return cluster_bootstrap_ci(x - y, clusters, n_boot=n_boot, seed=seed, alpha=alpha)
