"""Evaluation metrics of instrument edits (paper Section V): chroma, inst_acc, KAD, with bootstrap CIs.

- :func:`chroma_distance` (arrays) / :func:`chroma_distance_files`: mean per-frame cosine
  distance of CQT chromagrams of edit vs source; in [0, 1], lower = content kept.
- :func:`top1_correct`, :func:`accuracy_ci`: ``inst_acc`` from the teacher's predictions.
- :func:`load_clap` -> :class:`ClapEmbedder`: CLAP-LAION music embeddings (48 kHz mono,
  10 s windows, 1 s hop), ``tiny`` offline stand-in; :func:`check_not_collapsed` guards a set.
- :func:`kad`, :func:`kad_bootstrap_ci`, :func:`mean_kad_cluster_ci`: Kernel Audio Distance x 100,
  bandwidth ``candidate`` (kadtk), ``reference`` or a number (:func:`resolve_bandwidth`).
- :func:`bootstrap_ci`: ``(estimate, low, high)`` percentile bootstrap; :func:`cluster_bootstrap_ci`,
  :func:`paired_difference_ci`: the same resampling whole sources (clusters) of edits.
"""

from difftone.metrics.bootstrap import (
    accuracy_ci,
    bootstrap_ci,
    cluster_bootstrap_ci,
    cluster_codes,
    cluster_counts,
    paired_difference_ci,
    top1_correct,
)
from difftone.metrics.chroma import (
    SourceChromagrams,
    chroma_distance,
    chroma_distance_files,
    chroma_frame_distance,
    chromagram,
)
from difftone.metrics.clap import (
    ClapCheckpointError,
    ClapEmbedder,
    EmbeddingCollapseError,
    check_not_collapsed,
    convert_laion_state_dict,
    load_clap,
    load_embeddings,
    save_embeddings,
)
from difftone.metrics.kad import kad, kad_bootstrap_ci, mean_kad_cluster_ci, median_pairwise_distance, resolve_bandwidth

__all__ = [
    "ClapCheckpointError",
    "ClapEmbedder",
    "EmbeddingCollapseError",
    "accuracy_ci",
    "bootstrap_ci",
    "check_not_collapsed",
    "SourceChromagrams",
    "chroma_distance",
    "cluster_bootstrap_ci",
    "cluster_codes",
    "cluster_counts",
    "chroma_distance_files",
    "chroma_frame_distance",
    "chromagram",
    "convert_laion_state_dict",
    "kad",
    "kad_bootstrap_ci",
    "load_clap",
    "load_embeddings",
    "mean_kad_cluster_ci",
    "median_pairwise_distance",
    "paired_difference_ci",
    "resolve_bandwidth",
    "save_embeddings",
    "top1_correct",
]
