"""What every model loader shares: the loading error, the Hugging Face token from the
environment, whether a spec is a local path or a hub id, and the parameter counts it logs. A module of its own so that the
backbone loaders (``loader``, ``audioldm2``) use it without importing each other."""

from __future__ import annotations

import os


class ModelLoadError(RuntimeError):
    """The model spec cannot be loaded; the message says why and what to do."""


def hub_token() -> str | None:
    """The Hugging Face token from the environment (``HF_TOKEN``, or the older ``HUGGING_FACE_HUB_TOKEN``)."""
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


def looks_local(spec: str) -> bool:
    """A path (exists, or starts like one) rather than a hub id ``owner/name``."""
    return os.path.exists(os.path.expanduser(spec)) or spec.startswith(("/", ".", "~")) or spec.count("/") != 1


def parameter_counts(modules: dict) -> str:
    """``"DiT 1.06 B, VAE 156.7 M"``: each module's parameter count, for the loaders' log lines (a run's logs then
    say at what size every model was loaded; the full-size rehearsal checks them)."""

    def count(module) -> str:
        n = sum(p.numel() for p in module.parameters())
        return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"

    return ", ".join(f"{name} {count(module)}" for name, module in modules.items())
