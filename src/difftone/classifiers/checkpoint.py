"""Checkpoints: ``model.safetensors`` (weights) + ``config.json`` (what to build), never pickle.

A checkpoint is a folder. ``config.json`` names the ``kind`` of module and every
constructor argument, so loading needs no code from the training run; the
weights are read with ``safetensors`` only. Both files are written atomically
(:func:`difftone.files.atomic_path`), so a killed job never leaves a half-written
checkpoint under its final name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from difftone.files import atomic_path

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete or of the wrong kind."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config)`` of a checkpoint given its folder, weights file or config file."""
    path = Path(path)
    folder = path.parent if path.name in (WEIGHTS_NAME, CONFIG_NAME) else path
    return folder / WEIGHTS_NAME, folder / CONFIG_NAME


def save_checkpoint(module: torch.nn.Module, kind: str, config: dict[str, Any], path: str | Path) -> Path:
    """Write ``module``'s state dict and ``{"kind": kind, **config}`` to the folder ``path``."""
    weights, cfg = checkpoint_paths(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"kind": kind, "format_version": str(FORMAT_VERSION)})
    with atomic_path(cfg) as tmp:
        tmp.write_text(json.dumps({"kind": kind, "format_version": FORMAT_VERSION, **config}, indent=2) + "\n")
    return weights.parent


def read_checkpoint(path: str | Path, kind: str | tuple[str, ...]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Return ``(config, state_dict)`` of a checkpoint, checking that it is of ``kind``."""
    weights, cfg = checkpoint_paths(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    for f in (cfg, weights):
        if not f.is_file():
            raise CheckpointError(
                f"checkpoint {weights.parent}: {f.name} is missing; "
                f"train it with the workflow (e.g. `snakemake --cores all results/classifiers/...`)"
            )
    try:
        config = json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"checkpoint config {cfg} is not valid JSON ({exc}); delete the folder and retrain"
        ) from None
    if config.get("kind") not in kinds:
        raise CheckpointError(
            f"checkpoint {weights.parent} holds a {config.get('kind')!r}, expected {' or '.join(kinds)}"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {weights.parent} has format version {config.get('format_version')}, "
            f"this difftone reads version {FORMAT_VERSION}; retrain it"
        )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(
            f"checkpoint weights {weights} cannot be read ({exc}); delete the folder and retrain"
        ) from None
    return config, state


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load ``state`` into ``module`` strictly, with an error naming the checkpoint on mismatch."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {where} does not match its config.json: {exc}") from None
