"""The pieces of ``difftone edit``'s input handling that other front ends share (``difftone studio``): the
user-error types, the source/target word pairs and the classifier for a model spec. No import of
:mod:`difftone.cli`, so the CLI and the studio both import it.
"""

from __future__ import annotations


class CLIError(Exception):
    """A bad command line; the message says what to change."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix: printed as one line, no traceback."""
    from difftone.audio import AudioError
    from difftone.captions import CaptionError
    from difftone.config import ConfigError
    from difftone.engine import EditError, StrategyError, SwapError
    from difftone.engine.musicmagus import MusicMagusError
    from difftone.models import ModelLoadError
    from difftone.session import SessionError

    errors: list[type[BaseException]] = [
        CLIError,
        ConfigError,
        ModelLoadError,
        SwapError,
        EditError,
        StrategyError,
        MusicMagusError,
        CaptionError,
        AudioError,
        SessionError,
    ]
    try:
        from difftone.classifiers import CheckpointError

        errors.append(CheckpointError)
    except ImportError:
        pass
    return tuple(errors)


def _classifier_for(path: str | None, spec: str, components, config, strategy: str):
    """(classifier or None, description for the JSON); ``path``: the session's trained classifier."""
    instruments = list(config["instruments"])
    if path:
        try:
            from difftone.classifiers import load_latent_classifier
        except ImportError as exc:
            raise CLIError(f"cannot load --classifier: difftone.classifiers is not available ({exc})") from None
        clf = load_latent_classifier(path, window=config["classifiers"]["window"])
        return clf.to(components.device), {"path": str(path), "trained": True}
    if spec == "tiny":
        from difftone.classifiers import tiny_latent_classifier

        clf = tiny_latent_classifier(components.latent_channels, instruments, seed=0).to(components.device)
        return clf, {
            "path": None,
            "trained": False,
            "note": "tiny untrained classifier with random weights (--model tiny)",
        }
    from difftone.engine import strategy_spec

    if strategy_spec(strategy).needs_classifier:
        raise CLIError(
            f"strategy {strategy} needs a trained latent classifier for this model: pass --classifier PATH "
            "(e.g. results/classifiers/distilled), or choose --strategy midpoint|random|fixed:K"
        )
    return None, None


def _word_pairs(sources: str, targets: str) -> list[tuple[str, str]]:
    """``--source a,b --target c,d`` -> ``[(a, c), (b, d)]`` (IRMAS codes); one message per bad list."""
    from difftone.engine.swap import instrument

    src = [w.strip() for w in sources.split(",")]
    tgt = [w.strip() for w in targets.split(",")]
    for flag, names in (("--source", src), ("--target", tgt)):
        if any(not n for n in names):
            raise CLIError(f"{flag} {','.join(names)!r} has an empty name; separate instruments by single commas")
    if len(src) != len(tgt):
        raise CLIError(
            f"--source names {len(src)} instrument(s) but --target {len(tgt)}: give one target per "
            "source, in order (e.g. --source piano,trumpet --target organ,saxophone)"
        )
    codes = {flag: [instrument(n).code for n in names] for flag, names in (("--source", src), ("--target", tgt))}
    for flag, cs in codes.items():
        twice = sorted({c for c in cs if cs.count(c) > 1})
        if twice:
            raise CLIError(f"{flag} names {', '.join(twice)} twice; name each instrument once")
    for s_code, t_code in zip(codes["--source"], codes["--target"]):
        if s_code == t_code:
            raise CLIError(f"--source and --target are the same instrument ({s_code})")
    return list(zip(codes["--source"], codes["--target"]))
