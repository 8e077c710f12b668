"""Kernel Audio Distance (KAD, Chung et al. 2025) on two sets of embeddings.

With reference embeddings X (m rows) and candidate embeddings Y (n rows), a
Gaussian kernel ``k(a, b) = exp(-gamma |a - b|^2)``, ``gamma = 1 / (2 bw^2 + 1e-8)``:

    KAD = 100 * [ sum_{i!=j} k(x_i, x_j) / (m (m-1))
                + sum_{i!=j} k(y_i, y_j) / (n (n-1))
                - 2 sum_{i,j} k(x_i, y_j) / (m n) ]

the unbiased MMD^2 estimate (diagonal terms removed), scaled by 100 as in kadtk
1.1.0. It can be slightly negative when the sets are close.

Bandwidth rule (config ``metrics.kad.bandwidth``): ``candidate`` (default, kadtk
1.1.0's choice, so values compare with published ones) takes the median pairwise
Euclidean distance within the evaluated set; ``reference`` takes it within the
reference set (the KAD paper's wording: one kernel per target instrument, shared
by every strategy); a number fixes it. Under resampling the bandwidth stays the
one of the full sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from difftone.metrics.bootstrap import cluster_codes, cluster_counts

SCALE = 100.0
EPS = 1e-8


def _as_set(emb, name: str) -> np.ndarray:
    arr = np.asarray(emb, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} embeddings must be a [n, dim] array, got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} set has {arr.shape[0]} embedding(s); KAD needs at least 2")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} embeddings contain NaN or infinite values")
    return arr


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


BANDWIDTH_RULES = ("candidate", "reference")


def median_pairwise_distance(emb, name: str = "reference") -> float:
    """Median Euclidean distance over all pairs i < j of a [n, dim] set."""
    x = _as_set(emb, name)
    iu = np.triu_indices(x.shape[0], k=1)
    return float(np.median(np.sqrt(_sq_dists(x, x)[iu])))


class KADTerms:
    """Kernel matrices of one (reference, candidate) pair, reusable for bootstrap resamples."""

    def __init__(self, reference, candidate, bandwidth: str | float | None = "candidate"):
        x = _as_set(reference, "reference")
        y = _as_set(candidate, "candidate")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"reference has dim {x.shape[1]} but candidate has dim {y.shape[1]}")
        self.bandwidth = resolve_bandwidth(x, y, bandwidth)
        gamma = 1.0 / (2.0 * self.bandwidth**2 + EPS)
        m = x.shape[0]
        k_xx = np.exp(-gamma * _sq_dists(x, x))
        self.k_xx_mean = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        self.k_yy = np.exp(-gamma * _sq_dists(y, y))
        self.k_xy_row = np.exp(-gamma * _sq_dists(y, x)).mean(axis=1)  # per candidate row: mean over reference

    def value(self, rows: np.ndarray | None = None) -> float:
        """KAD of the candidate rows ``rows`` (indices, repeats allowed; default all).

        Pairs of a row with a copy of itself are left out, as the diagonal is.
        """
        if rows is None:
            rows = np.arange(self.k_yy.shape[0])
        rows = np.asarray(rows)
        same = rows[:, None] == rows[None, :]
        if (~same).sum() == 0:
            raise ValueError("candidate resample holds a single distinct embedding; KAD needs at least 2")
        k_yy = self.k_yy[np.ix_(rows, rows)]
        k_yy_mean = k_yy[~same].mean()
        return float(SCALE * (self.k_xx_mean + k_yy_mean - 2.0 * self.k_xy_row[rows].mean()))

    def resampled(self, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """KAD of many resamples at once: ``codes[r]`` is the item (0..n_items-1) of candidate row r,
        ``counts[b, g]`` how often resample b draws item g. NaN where a resample holds fewer than two rows
        that are not copies of one another. Rows of two copies of one item are never paired with each other
        (the original set has no such pairs: pairing them weighs an item's within-item similarity up with its
        count, which biases the resamples); rows within one copy are paired as in the original."""
        codes = np.asarray(codes)
        n = self.k_yy.shape[0]
        if codes.shape != (n,):
            raise ValueError(f"{codes.shape} item codes for {n} candidate embeddings")
        counts = np.asarray(counts, dtype=np.float64)
        onehot = np.zeros((n, counts.shape[1]))
        onehot[np.arange(n), codes] = 1.0
        block_sum = onehot.T @ self.k_yy @ onehot  # [items, items]: sum of k over the rows of two items
        size = onehot.sum(axis=0)  # rows per item
        self_sim = onehot.T @ np.diag(self.k_yy)  # sum over an item's rows of k(r, r)
        xy_sum = onehot.T @ self.k_xy_row  # sum over an item's rows of the mean k to the reference
        within = np.diag(block_sum)  # sum of k over the row pairs of one item (its diagonal included)
        yy_sum = (
            np.einsum("bg,gh,bh->b", counts, block_sum, counts) - (counts**2) @ within + counts @ (within - self_sim)
        )
        n_rows = counts @ size
        yy_pairs = n_rows**2 - (counts**2) @ size**2 + counts @ (size**2 - size)
        out = np.full(counts.shape[0], np.nan)
        ok = yy_pairs > 0
        out[ok] = SCALE * (self.k_xx_mean + yy_sum[ok] / yy_pairs[ok] - 2.0 * (counts[ok] @ xy_sum) / n_rows[ok])
        return out


def resolve_bandwidth(reference, candidate, bandwidth: str | float | None = "candidate") -> float:
    """The kernel bandwidth of one KAD: ``candidate`` (kadtk: median pairwise distance of the evaluated
    set), ``reference`` (of the reference set; ``None`` means the same), or a positive number."""
    if bandwidth is None or bandwidth == "reference":
        value, which = median_pairwise_distance(reference, "reference"), "reference"
    elif bandwidth == "candidate":
        value, which = median_pairwise_distance(candidate, "candidate"), "candidate"
    elif isinstance(bandwidth, str):
        raise ValueError(f"metrics.kad.bandwidth must be one of {BANDWIDTH_RULES} or a number, got {bandwidth!r}")
    else:
        value, which = float(bandwidth), "configured"
    if not value > 0:
        raise ValueError(
            f"KAD bandwidth is {value}: the {which} embeddings are all identical (collapsed "
            "embedder?) or metrics.kad.bandwidth is not positive"
        )
    return value


def kad(reference, candidate, bandwidth: str | float | None = "candidate") -> float:
    """Kernel Audio Distance x 100 between two [n, dim] embedding sets (module docstring).

    ``bandwidth``: ``candidate`` (kadtk), ``reference`` or a number (:func:`resolve_bandwidth`).
    """
    return KADTerms(reference, candidate, bandwidth).value()


def kad_bootstrap_ci(
    reference,
    candidate,
    groups=None,
    bandwidth: str | float | None = "candidate",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``(kad, low, high)``: KAD and its percentile bootstrap CI over the candidate set.

    KAD is a set-level metric: its interval comes from resampling candidate
    *items* with replacement (``groups[i]`` names the item of embedding row i,
    e.g. the audio file its window came from, or its source generation; default:
    each row is an item), with the reference set and the bandwidth held fixed.
    Rows of two copies of one item are never paired with each other in the within-candidate term
    (rows within one copy are, as in the original set).
    """
    terms = KADTerms(reference, candidate, bandwidth)
    n = terms.k_yy.shape[0]
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has {groups.shape} entries for {n} candidate embeddings")
    codes, n_items = cluster_codes(groups)
    if n_items < 2:
        raise ValueError("KAD bootstrap needs a candidate set of at least 2 distinct items")
    stats = terms.resampled(codes, cluster_counts(n_items, n_boot, seed))
    stats = stats[np.isfinite(stats)]
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return terms.value(), float(low), float(high)


def mean_kad_cluster_ci(
    sets: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    bandwidth: str | float | None = "candidate",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``(mean KAD, low, high)`` of the mean over several KADs (Table II: one per instrument pair) whose
    candidate rows belong to shared clusters (source generations).

    ``sets``: ``(reference, candidate, clusters)`` per KAD, ``clusters[r]`` the cluster of candidate row r.
    One resample draws clusters over the union of all sets, with replacement; each set keeps its rows of the
    drawn clusters (with multiplicity) and the resample's statistic is the mean over sets of their KADs (a set
    left with fewer than two distinct rows in a resample is left out of that resample's mean).
    """
    if not sets:
        raise ValueError("no KAD sets to average")
    terms = [KADTerms(ref, cand, bandwidth) for ref, cand, _ in sets]
    all_clusters = np.concatenate([np.asarray(c) for _, _, c in sets])
    names, _ = np.unique(all_clusters, return_inverse=True)
    counts = cluster_counts(len(names), n_boot, seed)
    stats = []
    for t, (_, _, clusters) in zip(terms, sets):
        codes = np.searchsorted(names, np.asarray(clusters))
        used, local = np.unique(codes, return_inverse=True)
        stats.append(t.resampled(local.ravel(), counts[:, used]))
    stats = np.vstack(stats)  # [sets, n_boot]
    defined = np.isfinite(stats).any(axis=0)
    per_boot = np.nanmean(stats[:, defined], axis=0)
    low, high = np.quantile(per_boot, [alpha / 2, 1 - alpha / 2])
    return float(np.mean([t.value() for t in terms])), float(low), float(high)
