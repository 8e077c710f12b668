"""Kernel Audio Distance (KAD, Chung et al. 2025) on two sets of embeddings.

With reference embeddings X (m rows) and candidate embeddings Y (n rows), a
Gaussian kernel ``k(a, b) = exp(-gamma |a - b|^2)``, ``gamma = 1 / (2 bw^2 + 1e-8)``:

    KAD = 100 * [ sum_{i!=j} k(x_i, x_j) / (m (m-1))
                + sum_{i!=j} k(y_i, y_j) / (n (n-1))
                - 2 sum_{i,j} k(x_i, y_j) / (m n) ]

the unbiased MMD^2 estimate (diagonal terms removed), scaled by 100 as in kadtk
1.1.0. It can be slightly negative when the sets are close.

Bandwidth rule: ``bw`` is the median pairwise Euclidean distance within the
**reference** set (the KAD paper's median heuristic on the reference). kadtk
takes the median of its second argument (the evaluated set) instead; we fix it
on the reference so that every strategy's edits towards one target instrument
are measured with the same kernel and their KADs are comparable.
"""

from __future__ import annotations

import numpy as np

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


def median_pairwise_distance(emb) -> float:
    """Median Euclidean distance over all pairs i < j of a [n, dim] set."""
    x = _as_set(emb, "reference")
    iu = np.triu_indices(x.shape[0], k=1)
    return float(np.median(np.sqrt(_sq_dists(x, x)[iu])))


class KADTerms:
    """Kernel matrices of one (reference, candidate) pair, reusable for bootstrap resamples."""

    def __init__(self, reference, candidate, bandwidth: float | None = None):
        x = _as_set(reference, "reference")
        y = _as_set(candidate, "candidate")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"reference has dim {x.shape[1]} but candidate has dim {y.shape[1]}")
        self.bandwidth = median_pairwise_distance(x) if bandwidth is None else float(bandwidth)
        if not self.bandwidth > 0:
            raise ValueError(
                f"KAD bandwidth is {self.bandwidth}: the reference embeddings are all identical (collapsed embedder?)"
            )
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


def kad(reference, candidate, bandwidth: float | None = None) -> float:
    """Kernel Audio Distance x 100 between two [n, dim] embedding sets (module docstring).

    ``bandwidth=None``: the median pairwise distance of ``reference``.
    """
    return KADTerms(reference, candidate, bandwidth).value()


def kad_bootstrap_ci(
    reference,
    candidate,
    groups=None,
    bandwidth: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``(kad, low, high)``: KAD and its percentile bootstrap CI over the candidate set.

    KAD is a set-level metric: its interval comes from resampling candidate
    *items* with replacement (``groups[i]`` names the item of embedding row i,
    e.g. the audio file its window came from; default: each row is an item),
    with the reference set and the bandwidth held fixed. Copies of one row are
    never paired with each other in the within-candidate term.
    """
    terms = KADTerms(reference, candidate, bandwidth)
    n = terms.k_yy.shape[0]
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has {groups.shape} entries for {n} candidate embeddings")
    _, codes = np.unique(groups, return_inverse=True)
    n_items = int(codes.max()) + 1
    if n_items < 2:
        raise ValueError("KAD bootstrap needs a candidate set of at least 2 distinct items")
    onehot = np.zeros((n, n_items))
    onehot[np.arange(n), codes] = 1.0
    block_sum = onehot.T @ terms.k_yy @ onehot  # [items, items]: sum of k over the rows of two items
    size = onehot.sum(axis=0)  # rows per item
    self_sim = onehot.T @ np.diag(terms.k_yy)  # sum over an item's rows of k(r, r)
    xy_sum = onehot.T @ terms.k_xy_row  # sum over an item's rows of the mean k to the reference

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_items, size=(n_boot, n_items))
    counts = np.zeros((n_boot, n_items))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_items), picks.ravel()), 1.0)
    # pairs of resampled rows, leaving out a row paired with a copy of itself
    yy_sum = np.einsum("bg,gh,bh->b", counts, block_sum, counts) - (counts**2) @ self_sim
    n_rows = counts @ size
    yy_pairs = n_rows**2 - (counts**2) @ size
    ok = yy_pairs > 0
    stats = SCALE * (terms.k_xx_mean + yy_sum[ok] / yy_pairs[ok] - 2.0 * (counts[ok] @ xy_sum) / n_rows[ok])
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return terms.value(), float(low), float(high)
