"""What a session outside the workflow runs with: the config, the model and the classifier, each with
where it came from. ``difftone edit`` calls :func:`resolve_session`; the studio calls the same function.

The config, highest first: the caller's explicit values (``overrides``; the CLI's flags are applied
after this, key by key) > ``config_path`` (``--config FILE``, laid over the next as ``snakemake
--configfile`` does) > ``config.yaml`` in the working directory (a finished run's folder) > the schema's
defaults. It is validated with the workflow's schema.

The model: an explicit ``model`` wins. ``model.spec: demo`` means the demo model a run of the workflow
trains, as it does in the workflow: when the working directory holds a finished run
(``results/demo/model``), that model is used, else the untrained demo weights (with a note saying
how to train it). A hub id whose snapshot the run fetched (``<models.dir>/sao``) is loaded from there.

The classifier: an explicit ``classifier`` wins; the run's distilled classifier
(``results/classifiers/distilled``) goes with the run's own model (not with ``tiny``, nor with a
``model`` that is not the config's).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from difftone.config import ConfigError, validate_config

log = logging.getLogger(__name__)

LOCAL_CONFIG = "config.yaml"
# Where a run of the workflow writes them (workflow/rules/common.smk: DEMO_CHECKPOINT; classifiers.smk).
DEMO_MODEL = Path("results/demo/model")
DISTILLED_CLASSIFIER = Path("results/classifiers/distilled")


class SessionError(ValueError):
    """A file the session was given cannot be used; the message names it and what to do."""


@dataclass(frozen=True)
class Session:
    """``config``: validated, defaults filled; ``config_source``: which file (or the schema's defaults);
    ``model``: the spec to load; ``classifier``: a trained latent classifier checkpoint or ``None``;
    ``notes``: what was picked and why, one line each (logged by :func:`resolve_session`)."""

    config: dict[str, Any]
    config_source: str
    model: str
    classifier: str | None
    notes: tuple[str, ...]


def resolve_session(
    *,
    config_path: str | Path | None = None,
    model: str | None = None,
    classifier: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    workdir: str | Path = ".",
) -> Session:
    """The :class:`Session` of a run folder ``workdir`` (module doc). Errors: :class:`ConfigError` for a
    bad config, :class:`SessionError` for a ``classifier`` that does not exist. Loads no model."""
    workdir = Path(workdir)
    raw, source = _raw_config(config_path, workdir)
    config = validate_config(_merge(raw, overrides or {}), source=source)
    notes = [f"config: {source}"]
    spec, model_note = _model_spec(model, config, workdir)
    notes.append(model_note)
    clf, clf_note = _classifier(classifier, spec, model, config, workdir)
    if clf_note:
        notes.append(clf_note)
    for note in notes:
        log.info("%s", note)
    return Session(config, source, spec, clf, tuple(notes))


def check_recording(path: str | Path, real_audio: Mapping[str, Any]) -> None:
    """``path`` exists, decodes, is not (mostly) silent by ``real_audio``'s thresholds and not longer than
    ``real_audio.max_seconds``, before any model is loaded: :class:`difftone.audio.AudioError` naming the
    file otherwise."""
    from difftone import audio

    wave, rate = audio.load(path)
    audio.check_silence(
        wave, rate, path, silence_db=real_audio["silence_db"], max_silent_fraction=real_audio["max_silent_fraction"]
    )
    limit = real_audio.get("max_seconds")
    if limit is not None and wave.shape[-1] / rate > float(limit):
        raise audio.AudioError(
            path,
            f"{wave.shape[-1] / rate:.2f} s is longer than real_audio.max_seconds "
            f"({float(limit):g} s): raise it in the config (memory grows with the length, "
            "see difftone.long_audio) or trim the file",
        )


def _raw_config(config_path, workdir: Path) -> tuple[dict[str, Any], str]:
    """``./config.yaml`` with ``config_path`` laid over it, key by key, as ``snakemake --configfile`` lays a
    config over the Snakefile's (``configs/paper.yaml`` is such an overlay)."""
    local = workdir / LOCAL_CONFIG
    raw, sources = ({}, []) if not local.is_file() else (_read_yaml(local), [str(local)])
    if config_path is not None:
        raw = _merge(raw, _read_yaml(Path(config_path)))
        sources.append(str(config_path))
    return raw, " + ".join(sources) or "the schema's defaults (no config.yaml here)"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} is not a mapping of keys (it holds a {type(raw).__name__})")
    return raw


def _merge(base: dict, override: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def trained_demo_model(workdir: str | Path = ".") -> Path | None:
    """The demo model a finished run trained in ``workdir``, or ``None``."""
    folder = Path(workdir) / DEMO_MODEL
    return folder if (folder / "model_index.json").is_file() else None


def trained_classifier(workdir: str | Path = ".") -> Path | None:
    """The distilled latent classifier a finished run trained in ``workdir``, or ``None``."""
    folder = Path(workdir) / DISTILLED_CLASSIFIER
    return folder if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file() else None


def _model_spec(model: str | None, config: Mapping[str, Any], workdir: Path) -> tuple[str, str]:
    if model is not None and str(model) != "demo":
        return str(model), f"model: {model} (given)"
    spec = str(config["model"]["spec"]) if model is None else "demo"
    given = "given" if model is not None else "model.spec"
    if spec == "demo":
        trained = trained_demo_model(workdir)
        if trained is not None:
            return f"demo:{trained}", f"model: the run's trained demo model {trained} ({given} demo)"
        return "demo", (
            f"model: untrained demo weights ({given} demo; no trained model at {workdir / DEMO_MODEL}: "
            "run the workflow, `bash scripts/run.sh`, to train it)"
        )
    fetched = _fetched_snapshot(spec, config, workdir)
    if fetched is not None:
        return fetched, f"model: {fetched} (model.spec {spec}, as the run fetched it)"
    return spec, f"model: {spec} (model.spec)"


def _fetched_snapshot(spec: str, config: Mapping[str, Any], workdir: Path) -> str | None:
    """The folder the run's fetch_models put the hub model ``spec`` in, when it is there."""
    from difftone.models.fetch import RECORD, FetchPlan

    sao = FetchPlan.of(config).models.get("sao")
    if sao is None or sao.repo_id != spec:
        return None
    folder = sao.folder(workdir / config["models"]["dir"])
    return str(folder) if (folder / RECORD).is_file() else None


def _classifier(
    classifier, spec: str, model: str | None, config: Mapping[str, Any], workdir: Path
) -> tuple[str | None, str]:
    if classifier is not None:
        if not Path(classifier).exists():
            raise SessionError(
                f"--classifier {classifier} does not exist; give a trained latent classifier "
                f"checkpoint folder (e.g. {DISTILLED_CLASSIFIER})"
            )
        return str(classifier), f"classifier: {classifier} (given)"
    runs_own_model = model is None or str(model) == str(config["model"]["spec"])
    if spec == "tiny" or not runs_own_model:
        return None, ""
    if spec == "demo":  # untrained weights: the run's classifier belongs to a trained model
        return None, ""
    found = trained_classifier(workdir)
    if found is None:
        return None, f"classifier: none (no trained classifier at {workdir / DISTILLED_CLASSIFIER})"
    return str(found), f"classifier: the run's distilled classifier {found}"
