"""Model components: the one loader of Stable Audio Open (real, tiny, demo)."""

from difftone.models.loader import ModelLoadError, SAOComponents, load_sao

__all__ = ["ModelLoadError", "SAOComponents", "load_sao"]
