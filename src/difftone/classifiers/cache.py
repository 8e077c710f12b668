"""On-disk cache of per-clip tensors (MERT hidden states, SAO latents) and its manifest.

One safetensors file per clip under ``<cache_dir>/clips/``; the manifest CSV
(``<cache_dir>/index.csv``: path, instrument, split, file, frames) is written last
and atomically, so it is the stage's "done" marker. Each clip file carries a
fingerprint of what produced it (model spec, revision, rate, and the source
file's size and mtime) in its metadata: an interrupted or re-configured run
reuses exactly the clips whose fingerprint still matches and recomputes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from difftone.files import atomic_path, read_csv

INDEX_COLUMNS = ("path", "instrument", "split")
TENSOR_KEY = "x"


class CacheError(ValueError):
    """A cache manifest or clip file is missing or unreadable."""


def clip_file(cache_dir: str | Path, audio_path: str | Path) -> Path:
    """Where the cached tensor of ``audio_path`` lives (a hash of the path, plus its readable stem)."""
    digest = hashlib.sha1(str(audio_path).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(audio_path).stem)[:40]
    return Path(cache_dir) / "clips" / f"{stem}-{digest}.safetensors"


def fingerprint(producer: dict[str, Any], audio_path: str | Path) -> str:
    """Identity of a cached tensor: what produced it and the exact source file it was made from."""
    st = Path(audio_path).stat()
    return json.dumps({**producer, "size": st.st_size, "mtime_ns": st.st_mtime_ns}, sort_keys=True)


def is_cached(path: Path, fp: str) -> bool:
    if not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("fingerprint") == fp
    except (SafetensorError, OSError):
        return False


def write_clip(path: Path, x: torch.Tensor, fp: str) -> None:
    with atomic_path(path) as tmp:
        save_file({TENSOR_KEY: x.contiguous().cpu()}, str(tmp), metadata={"fingerprint": fp})


def read_clip(path: str | Path) -> torch.Tensor:
    try:
        return load_file(str(path))[TENSOR_KEY]
    except (SafetensorError, OSError, KeyError) as exc:
        raise CacheError(
            f"cached tensor {path} cannot be read ({exc}); delete it and rerun the features stage"
        ) from None


def read_index(index_csv: str | Path, columns: tuple[str, ...] = INDEX_COLUMNS) -> pd.DataFrame:
    """Read a data index or cache manifest, checking its columns."""
    return read_csv(index_csv, columns, what="the stage that writes it", error=CacheError)


def write_manifest(df: pd.DataFrame, manifest_csv: str | Path) -> None:
    with atomic_path(manifest_csv) as tmp:
        df.to_csv(tmp, index=False)


def load_split(manifest_csv: str | Path, split: str, instruments: list[str]) -> tuple[list[Path], torch.Tensor]:
    """Clip files and integer labels (index into ``instruments``) of one split of a manifest."""
    manifest_csv = Path(manifest_csv)
    df = read_index(manifest_csv, INDEX_COLUMNS + ("file",))
    df = df[df["split"] == split]
    unknown = sorted(set(df["instrument"]) - set(instruments))
    if unknown:
        raise CacheError(f"{manifest_csv}: instrument(s) {unknown} are not in the config's instruments {instruments}")
    if df.empty:
        raise CacheError(f"{manifest_csv} has no clips in split {split!r}")
    files = [manifest_csv.parent / f for f in df["file"]]
    labels = torch.tensor([instruments.index(i) for i in df["instrument"]], dtype=torch.long)
    return files, labels


def stack_clips(files: list[Path], fit) -> torch.Tensor:
    """Read clip tensors and stack them after ``fit`` brings each to a common shape."""
    return torch.stack([fit(read_clip(f)) for f in files])


def remove_stale(cache_dir: str | Path, keep: set[Path]) -> int:
    """Delete clip files not in ``keep`` (clips no longer in the index); return how many."""
    n = 0
    for f in (Path(cache_dir) / "clips").glob("*.safetensors"):
        if f not in keep:
            os.unlink(f)
            n += 1
    return n


def cache_clips(
    index_csv: str | Path,
    manifest_csv: str | Path,
    producer: dict[str, Any],
    load,
    compute,
    batch_size: int = 8,
    desc: str = "caching",
    time_axis: int = -1,
    splits: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Compute one tensor per clip of ``index_csv`` and cache it beside ``manifest_csv``.

    ``load(path) -> np.ndarray`` decodes a clip; ``compute(list of arrays of equal
    shape) -> tensor [B, ...]`` runs the model on a batch; ``time_axis`` of a clip's
    tensor is its length in frames (the manifest's ``frames``). Clips whose cached file
    has the same fingerprint are reused. ``splits``: cache only the clips of these splits
    (None: every clip). Returns the manifest (also written).
    """
    import logging

    from tqdm import tqdm

    log = logging.getLogger(__name__)
    manifest_csv = Path(manifest_csv)
    cache_dir = manifest_csv.parent
    df = read_index(index_csv)
    if splits is not None:
        df = df[df["split"].isin(splits)]
    df = df.reset_index(drop=True)
    targets = [clip_file(cache_dir, p) for p in df["path"]]
    fps = [fingerprint(producer, p) for p in df["path"]]
    todo = [i for i in range(len(df)) if not is_cached(targets[i], fps[i])]
    log.info("%s: %d clips, %d cached, %d to compute (%s)", desc, len(df), len(df) - len(todo), len(todo), producer)
    frames: dict[int, int] = {}
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        if not pending:
            return
        out = compute([w for _, w in pending])
        for (i, _), x in zip(pending, out):
            write_clip(targets[i], x, fps[i])
        pending.clear()

    for i in tqdm(todo, desc=desc, unit="clip", mininterval=5):
        wave = load(df.at[i, "path"])
        if pending and wave.shape != pending[0][1].shape:
            flush()
        pending.append((i, wave))
        if len(pending) >= batch_size:
            flush()
    flush()
    for i, f in enumerate(targets):
        with safe_open(str(f), framework="pt") as h:
            frames[i] = h.get_slice(TENSOR_KEY).get_shape()[time_axis]
    removed = remove_stale(cache_dir, set(targets))
    if removed:
        log.info("%s: removed %d cached clips no longer in %s", desc, removed, index_csv)
    out = df[list(INDEX_COLUMNS)].copy()
    out["file"] = [str(f.relative_to(cache_dir)) for f in targets]
    out["frames"] = [frames[i] for i in range(len(df))]
    write_manifest(out, manifest_csv)
    size = sum(f.stat().st_size for f in targets)
    log.info(
        "%s: wrote %s (%d clips, %.1f MB cached, %.1f kB per clip)",
        desc,
        manifest_csv,
        len(df),
        size / 1e6,
        size / 1e3 / len(df),
    )
    return out
