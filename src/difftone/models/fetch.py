"""Fetch the hub models a config names, once, into ``models.dir`` (the local rule ``fetch_models``).

Compute nodes of many clusters have no internet. The login node runs
``fetch_models`` (one job per model) and every later job reads the model from
``<models.dir>/<name>``:

- ``sao``: ``model.spec`` (a hub id), its diffusers-format files (``loader.SNAPSHOT_PATTERNS``);
- ``mert``: ``teacher_features.spec`` at ``revision``, the whole repository (MERT's remote code too);
- ``clap``: ``metrics.clap.checkpoint`` (``repo/file.pt``), that one file;
- ``clap_tokenizer``: ``judge.tokenizer`` when the judge is ``clap_zero_shot``, the tokenizer files only
  (``TOKENIZER_PATTERNS``);
- ``judge_clap``: ``judge.checkpoint`` when it is set to another ``repo/file.pt``, that one file;
- ``audioldm2``: ``musicmagus.model`` (a hub id), its diffusers-format files (``AUDIOLDM2_PATTERNS``).

A spec that is ``tiny``, ``demo`` or a local path names no hub model and is used as
is. Downloads go through ``huggingface_hub`` (``snapshot_download`` /
``hf_hub_download``: the Hugging Face cache, ``HF_HOME``, is reused, and
``HF_HUB_OFFLINE=1`` serves a model from it without network); the token is read
from ``HF_TOKEN`` in the environment, never from the config. The files are then
hard-linked (or copied, across filesystems) into ``<models.dir>/<name>`` with a
``FETCHED.json`` saying what they are. A new backbone adds a line to :func:`hub_models`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from difftone.files import atomic_folder
from difftone.models.loader import SNAPSHOT_PATTERNS, ModelLoadError, _looks_local, hub_token

log = logging.getLogger(__name__)

RECORD = "FETCHED.json"
# AudioLDM2Pipeline's diffusers files (cvssp/audioldm2, cvssp/audioldm2-music): configs, tokenizers, safetensors
# weights (not the repositories' duplicate .bin/.ckpt weights).
AUDIOLDM2_PATTERNS = ("model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors")
# what AutoTokenizer reads from a tokenizer repository (roberta-base: config.json names its type), no weights
TOKENIZER_PATTERNS = (
    "config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)


@dataclass(frozen=True)
class HubModel:
    """One model to fetch: a whole snapshot (``filename`` None, optionally filtered) or one file."""

    name: str
    repo_id: str
    revision: str | None = None
    filename: str | None = None
    allow_patterns: tuple[str, ...] | None = None
    key: str = ""  # the config key that names it, for messages

    def folder(self, models_dir: str | os.PathLike) -> Path:
        return Path(models_dir) / self.name

    def local_spec(self, models_dir: str | os.PathLike) -> str:
        """What jobs load instead of the hub id: the fetched folder (or the file in it)."""
        folder = self.folder(models_dir)
        return str(folder / Path(self.filename).name if self.filename else folder)

    def params(self) -> dict[str, Any]:
        """What identifies the download (Snakemake reruns the fetch when it changes)."""
        d = asdict(self)
        d["allow_patterns"] = list(self.allow_patterns) if self.allow_patterns else None
        return d

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> HubModel:
        d = dict(params)
        d["allow_patterns"] = tuple(d["allow_patterns"]) if d.get("allow_patterns") else None
        return cls(**d)


def is_hub_id(spec: Any) -> bool:
    """``owner/name`` that is not a local path and not one of the offline specs."""
    spec = str(spec or "").strip()
    return bool(spec) and spec not in ("tiny", "demo") and not spec.startswith("demo:") and not _looks_local(spec)


def _hub_file(spec: Any) -> tuple[str, str] | None:
    """``owner/repo/path/file.pt`` (not a local file) -> (repo_id, filename)."""
    spec = str(spec or "").strip()
    parts = spec.split("/")
    if len(parts) < 3 or spec.startswith((".", "/", "~")) or os.path.exists(spec):
        return None
    return "/".join(parts[:2]), "/".join(parts[2:])


def hub_models(config: Mapping[str, Any]) -> dict[str, HubModel]:
    """Every hub model ``config`` names, by folder name under ``models.dir``."""
    models: dict[str, HubModel] = {}
    spec = config.get("model", {}).get("spec")
    if is_hub_id(spec):
        models["sao"] = HubModel("sao", str(spec), allow_patterns=tuple(SNAPSHOT_PATTERNS), key="model.spec")
    feats = config.get("teacher_features", {})
    if feats.get("kind", "mert") == "mert" and is_hub_id(feats.get("spec")):
        models["mert"] = HubModel("mert", str(feats["spec"]), feats.get("revision"), key="teacher_features.spec")
    checkpoint = config.get("metrics", {}).get("clap", {}).get("checkpoint")
    if checkpoint and checkpoint.endswith(".pt") and (hub := _hub_file(checkpoint)):
        models["clap"] = HubModel("clap", hub[0], filename=hub[1], key="metrics.clap.checkpoint")
    mm = config.get("musicmagus", {}).get("model")
    if is_hub_id(mm):
        models["audioldm2"] = HubModel("audioldm2", str(mm), allow_patterns=AUDIOLDM2_PATTERNS, key="musicmagus.model")
    judge = config.get("judge", {})
    if judge.get("kind") == "clap_zero_shot":
        if is_hub_id(tokenizer := judge.get("tokenizer", "FacebookAI/roberta-base")):
            models["clap_tokenizer"] = HubModel(
                "clap_tokenizer", str(tokenizer), allow_patterns=TOKENIZER_PATTERNS, key="judge.tokenizer"
            )
        own = judge.get("checkpoint")
        if own and own != checkpoint and own.endswith(".pt") and (hub := _hub_file(own)):
            models["judge_clap"] = HubModel("judge_clap", hub[0], filename=hub[1], key="judge.checkpoint")
    return models


def _link_or_copy(src: str, dst: str) -> None:
    real = os.path.realpath(src)  # the HF cache's snapshot files are symlinks to blobs
    try:
        os.link(real, dst)
    except OSError:
        shutil.copy2(real, dst)


def download(model: HubModel) -> Path:
    """The model in the local Hugging Face cache (downloaded unless cached); errors say what to do."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    token = hub_token()
    what = (
        f"{model.repo_id}"
        + (f"/{model.filename}" if model.filename else "")
        + (f" at revision {model.revision}" if model.revision else "")
    )
    try:
        if model.filename:
            return Path(hf_hub_download(model.repo_id, model.filename, revision=model.revision, token=token))
        patterns = list(model.allow_patterns) if model.allow_patterns else None
        return Path(snapshot_download(model.repo_id, revision=model.revision, allow_patterns=patterns, token=token))
    except GatedRepoError:
        how = "the token in HF_TOKEN has no access to it" if token else "HF_TOKEN is not set"
        raise ModelLoadError(
            f"{model.repo_id} ({model.key}) is gated and {how}: accept its licence at "
            f"https://huggingface.co/{model.repo_id} with your account, then `export HF_TOKEN=<a read token of "
            "that account>` and rerun fetch_models"
        ) from None
    except RevisionNotFoundError:
        raise ModelLoadError(
            f"{model.repo_id} has no revision {model.revision!r}: check {model.key}'s revision"
        ) from None
    except RepositoryNotFoundError:
        hint = "" if token else " (if it is private or gated, export HF_TOKEN)"
        raise ModelLoadError(f"{model.key}: {model.repo_id!r} is not a Hugging Face repository{hint}") from None
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"cannot download {what} ({model.key}): the hub is unreachable (or HF_HUB_OFFLINE is set) and the "
            "Hugging Face cache does not hold it; run fetch_models on a node with internet"
        ) from None
    except HfHubHTTPError as exc:
        raise ModelLoadError(f"downloading {what} ({model.key}) failed: {exc}") from None


def fetch_model(model: HubModel, models_dir: str | os.PathLike) -> Path:
    """Download ``model`` (or take it from the HF cache) into ``<models_dir>/<name>``; return that folder."""
    dest = model.folder(models_dir)
    src = download(model)
    log.info("fetching %s (%s) from %s into %s", model.repo_id, model.key, src, dest)
    with atomic_folder(dest) as tmp:
        if model.filename:
            _link_or_copy(str(src), str(tmp / Path(model.filename).name))
            files = [Path(model.filename).name]
        else:
            shutil.copytree(
                src,
                tmp,
                copy_function=_link_or_copy,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".cache", ".git*"),
            )
            files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        record = {**model.params(), "source": str(src), "files": files}
        (tmp / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    log.info("fetched %s: %d files into %s", model.repo_id, len(files), dest)
    return dest


@dataclass
class FetchPlan:
    """The models of a config and the specs jobs load instead (``models.dir`` paths)."""

    models_dir: Path
    models: dict[str, HubModel] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> FetchPlan:
        return cls(Path(config.get("models", {}).get("dir", "resources/models")), hub_models(config))

    def spec(self, name: str, spec: Any) -> Any:
        """The fetched local spec of model ``name``, or ``spec`` itself when it names no hub model."""
        model = self.models.get(name)
        return model.local_spec(self.models_dir) if model else spec

    def inputs(self, *names: str) -> list[str]:
        """The fetched folders of these models (inputs of the jobs that read them)."""
        return [str(self.models[n].folder(self.models_dir)) for n in names if n in self.models]
