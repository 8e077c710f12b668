"""Load and validate a difftone config outside Snakemake (CLI, tests).

The schema in ``workflow/schemas/config.schema.yaml`` is the single source of
truth for keys, types and defaults; Snakemake validates with the same file.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from difftone.instruments import INSTRUMENTS

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is missing, of the wrong type, or unknown."""


def _fill_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for prop, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub and prop not in instance:
                instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in.

    Errors name the offending key path, e.g. ``data.clip_seconds``.
    """
    config = copy.deepcopy(config)
    validator = _fill_defaults(jsonschema.Draft202012Validator)(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
            lines.append(f"  {key}: {e.message}")
        raise ConfigError(f"invalid {source}:\n" + "\n".join(lines) + "\nsee workflow/schemas/config.schema.yaml")
    check_config(config)
    return config


def check_config(config: dict[str, Any]) -> None:
    """Cross-key checks a JSON schema cannot express."""
    for code in config.get("instruments", []):
        if code not in INSTRUMENTS:
            raise ConfigError(f"instruments: unknown instrument code {code!r}")
    steps = config.get("model", {}).get("steps")
    if steps is not None:
        for k in config.get("sweep", {}).get("steps", []):
            if k > steps:
                raise ConfigError(f"sweep.steps: step {k} is beyond model.steps ({steps}); use steps 0..{steps}")
    for strategy in config.get("edits", {}).get("strategies", []):
        from difftone.engine import StrategyError, validate_strategy

        try:
            validate_strategy(strategy, steps)  # the registry checks its argument (e.g. fixed:K against model.steps)
        except StrategyError as exc:
            raise ConfigError(f"edits.strategies: {exc} (model.steps is {steps})") from None
    _check_duets(config)
    if config.get("report", {}).get("examples") is not None:
        example_pairs(config["report"]["examples"], config.get("instruments", []))


# The pairs the paper's figures and listening examples use (piano -> violin, piano -> acoustic
# guitar, violin -> piano): `report.examples: null` shows those present in `instruments`.
DEFAULT_EXAMPLES: tuple[tuple[str, str], ...] = (("pia", "vio"), ("pia", "gac"), ("vio", "pia"))


def example_pairs(examples: Sequence[Sequence[str]] | None, instruments: Sequence[str]) -> list[tuple[str, str]]:
    """The (source, target) pairs the report shows.

    ``examples``: the config's ``report.examples``; ``None`` picks the paper's pairs whose
    instruments are both configured, or else the first two instruments both ways. An explicit
    pair naming an instrument that is not in ``instruments`` (or the same one twice) is a
    :class:`ConfigError` naming the key.
    """
    instruments = list(instruments)
    if examples is None:
        pairs = [(s, t) for s, t in DEFAULT_EXAMPLES if s in instruments and t in instruments]
        return pairs or [(instruments[0], instruments[1]), (instruments[1], instruments[0])]
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(examples):
        if len(pair) != 2:
            raise ConfigError(f"report.examples[{i}]: {list(pair)} is not a [source, target] pair of IRMAS codes")
        source, target = str(pair[0]), str(pair[1])
        for code in (source, target):
            if code not in instruments:
                raise ConfigError(
                    f"report.examples[{i}]: {code!r} is not one of the configured instruments "
                    f"({', '.join(instruments)}); add it to `instruments` or choose another pair"
                )
        if source == target:
            raise ConfigError(f"report.examples[{i}]: source and target are both {source!r}; an edit needs two")
        if (source, target) not in pairs:
            pairs.append((source, target))
    if not pairs:
        raise ConfigError("report.examples is empty; list at least one [source, target] pair or set it to null")
    return pairs


def _check_duets(config: dict[str, Any]) -> None:
    """data.duets.pairs and multi.edits: two different instruments each (entries naming an instrument not in
    `instruments` are left out by the workflow, as an unlisted instrument is not indexed); no word swapped
    for itself; the Table V strategies are known (the registry checks their arguments)."""
    for i, pair in enumerate(config.get("data", {}).get("duets", {}).get("pairs", [])):
        if pair[0] == pair[1]:
            raise ConfigError(f"data.duets.pairs[{i}]: {pair} names one instrument twice; a duet needs two")
    for i, (source, target) in enumerate(config.get("multi", {}).get("edits", [])):
        for side, duet in (("source", source), ("target", target)):
            if duet[0] == duet[1]:
                raise ConfigError(f"multi.edits[{i}]: the {side} duet {duet} names one instrument twice")
        for a, b in zip(source, target):
            if a == b:
                raise ConfigError(f"multi.edits[{i}]: {source} -> {target} swaps {a} for itself; change the target")
    if config.get("multi", {}).get("edits"):
        from difftone.engine import StrategyError, validate_strategy

        for strategy in config["multi"]["strategies"]:
            try:
                validate_strategy(strategy, config.get("model", {}).get("steps"))
            except StrategyError as exc:
                raise ConfigError(f"multi.strategies: {exc}") from None


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return validate_config(raw, source=str(path))
