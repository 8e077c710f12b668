"""The ``difftone`` command line: ``difftone edit ...`` and stage entry points.

``difftone edit --prompt ...`` edits a generation (writes ``source.wav``, ``edit.wav``,
``edit.json``); ``difftone edit --audio FILE ...`` edits a recording of any length window by window, or only
``--start S --end E`` of it (:mod:`difftone.long_audio`: edit-friendly inversion, one swap step,
crossfaded windows, the passage spliced into the input); ``reconstruction.wav`` (the VAE round
trip) and ``edit.wav`` are written at the file's rate, channels, length and level (float WAV,
unclipped; outside a passage the input's samples exactly).

Add a subcommand with :func:`register_command` (a name, a help line, a function that
adds its arguments, a function that runs it). User errors (bad instrument, prompt,
settings, missing model or token) exit with status 1 and one message, no traceback
(``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from difftone.cli_inputs import CLIError, _classifier_for, _word_pairs, user_errors  # noqa: F401 (used and re-exported)

log = logging.getLogger("difftone.cli")

_COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int | None]]
] = {}


def register_command(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int | None],
) -> None:
    _COMMANDS[name] = (help, add_arguments, run)


# -- difftone edit --------------------------------------------------------------------------
def _add_edit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prompt",
        help='source prompt naming the source instrument(s), e.g. "A soft piano melody" '
        "(required without --audio; with --audio default: config real_audio.source_prompt)",
    )
    p.add_argument(
        "--audio",
        metavar="FILE",
        help="edit this recording instead of a generation: it is inverted "
        "(edit-friendly DDPM inversion) with the source prompt; writes reconstruction.wav (the VAE round "
        "trip) and edit.wav at the file's rate, channels and length",
    )
    p.add_argument(
        "--start",
        type=float,
        metavar="S",
        help="with --audio: edit only the passage from S seconds "
        "(to --end, or the file's end); outside it, crossfaded over real_audio.passage_fade, the output "
        "is the input bit for bit",
    )
    p.add_argument(
        "--end", type=float, metavar="E", help="with --audio: the passage's end in seconds (default: the file's end)"
    )
    p.add_argument(
        "--source-guidance",
        type=float,
        help="with --audio: guidance of the inversion (default: config real_audio.source_guidance)",
    )
    p.add_argument(
        "--source",
        required=True,
        help="source instrument: IRMAS code (pia) or name (piano); several, comma-separated, swap several "
        "words of the prompt (--source piano,trumpet --target organ,saxophone: the pairs in order)",
    )
    p.add_argument(
        "--target", required=True, help="target instrument(s): IRMAS code (vio) or name (violin), one per source"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the source generation, or of the inversion's noise (default 0)"
    )
    p.add_argument(
        "--method",
        choices=["difftone", "musicmagus"],
        default="difftone",
        help="difftone: a prompt swap at one step (default) | musicmagus: the caption direction + "
        "cross-attention constraint (config musicmagus.*)",
    )
    p.add_argument(
        "--captions",
        metavar="DIR",
        help="musicmagus: folder of caption files <code>.txt (the captions "
        "stage's results/captions); default: the offline generator's (config musicmagus.n_captions)",
    )
    p.add_argument(
        "--strategy",
        default=None,
        help="difftone | presence[:T] | midpoint | random | fixed:K | sigma:S | agree[:R] | probe[:P] | none, "
        "applied per word (default: difftone for one word, presence = per-word Diff-TONE for several)",
    )
    p.add_argument("--steps", type=int, help="denoising steps N (default: config model.steps)")
    p.add_argument(
        "--duration", type=float, help="seconds to generate (default: config model.duration; with --audio: the file's)"
    )
    p.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance (default: config model.guidance_scale; "
        "with --audio: of the edited steps, default real_audio.target_guidance or model.guidance_scale)",
    )
    p.add_argument(
        "--model",
        help="tiny | demo | demo:DIR | a hub id | a local snapshot folder (default: config "
        "model.spec; demo: the run's trained results/demo/model when there is one)",
    )
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="default: config model.dtype")
    p.add_argument("--device", help="cpu | cuda | cuda:N (default: config device)")
    p.add_argument(
        "--classifier",
        help="a trained latent classifier checkpoint (difftone.classifiers; default: "
        "the run's results/classifiers/distilled with the run's own model)",
    )
    p.add_argument(
        "--no-change-policy",
        choices=["midpoint", "skip", "no_edit"],
        help="when the classifier never changes its top-1 (default: config swap.no_change_policy)",
    )
    p.add_argument(
        "--config",
        help="a difftone config file for the defaults, laid over ./config.yaml when there is "
        "one (as snakemake --configfile), then the schema's defaults; flags override it",
    )
    p.add_argument(
        "--save-trajectory", action="store_true", help="also write the source trajectory cache to OUT_DIR/trajectory"
    )
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder")


def run_edit(args: argparse.Namespace) -> int:
    import numpy as np

    from difftone import audio as audio_io
    from difftone.engine import (
        EditOptions,
        Editor,
        edit,
        edit_words,
        strategy_options,
        swap_instruments,
        validate_strategy,
    )
    from difftone.engine.swap import instrument
    from difftone.long_audio import LongSettings, invert_windows
    from difftone.models import load_backbone
    from difftone.real_audio import load_recording, source_prompt
    from difftone.session import check_recording, resolve_session

    session = resolve_session(config_path=args.config, model=args.model, classifier=args.classifier)
    config = session.config
    model_cfg, swap_cfg, real_cfg = config["model"], config["swap"], config["real_audio"]
    words = _word_pairs(args.source, args.target)
    if args.audio is None and not args.prompt:
        raise CLIError("give --prompt (edit a generation) or --audio FILE (edit a recording)")
    if args.method == "musicmagus" and len(words) > 1:
        raise CLIError("--method musicmagus edits one instrument: give one --source and one --target")
    if args.audio is not None and args.method == "musicmagus":
        raise CLIError("--audio edits a recording with --method difftone only (MusicMagus on recordings is not built)")
    if args.audio is None and (args.start is not None or args.end is not None):
        raise CLIError("--start/--end choose a passage of a recording: give --audio FILE")
    if args.audio is not None and len(words) > 1 and (args.start is not None or args.end is not None):
        raise CLIError("--start/--end edit one instrument of a recording: give one --source and one --target")
    if args.audio is not None and args.duration is not None:
        raise CLIError("--duration is the file's with --audio; trim the file instead")
    if args.audio is not None and len(words) > 1 and not args.prompt:
        raise CLIError(
            "--audio with several instruments needs --prompt naming all of them (the default prompt names one)"
        )
    if args.strategy is None:
        args.strategy = "difftone" if len(words) == 1 else "presence"
    src, tgt = instrument(words[0][0]), instrument(words[0][1])
    prompt = source_prompt(src.name, args.prompt, real_cfg["source_prompt"]) if args.audio else args.prompt
    target_prompt = swap_instruments(prompt, words, swap_cfg["synonyms"])
    steps = args.steps if args.steps is not None else model_cfg["steps"]
    if steps < 2:
        raise CLIError(f"--steps must be at least 2, got {steps}")
    duration = args.duration if args.duration is not None else model_cfg["duration"]
    if duration <= 0:
        raise CLIError(f"--duration must be positive, got {duration}")
    guidance = args.guidance_scale if args.guidance_scale is not None else model_cfg["guidance_scale"]
    if args.audio is not None and args.guidance_scale is None and real_cfg["target_guidance"] is not None:
        guidance = real_cfg["target_guidance"]
    source_guidance = args.source_guidance if args.source_guidance is not None else real_cfg["source_guidance"]
    if source_guidance < 0:
        raise CLIError(f"--source-guidance must be >= 0, got {source_guidance}")
    policy = args.no_change_policy or swap_cfg["no_change_policy"]
    validate_strategy(args.strategy, steps)
    spec = session.model
    if args.audio is not None:  # input files before any model is loaded: a typo costs no model load
        check_recording(args.audio, real_cfg)
        _check_passage_flags(args, real_cfg)
    if args.captions is not None and not Path(args.captions).is_dir():
        raise CLIError(f"--captions {args.captions} is not a folder; give the captions stage's results/captions")

    components = load_backbone(spec, dtype=args.dtype or model_cfg["dtype"], device=args.device or config["device"])
    recording = None
    if args.audio is not None:
        recording = load_recording(
            args.audio,
            components,
            peak=real_cfg["peak"],
            silence_db=real_cfg["silence_db"],
            max_silent_fraction=real_cfg["max_silent_fraction"],
            max_seconds=real_cfg["max_seconds"],
        )
        if len(words) > 1 and recording.duration > components.max_duration:
            raise CLIError(
                f"several instruments are swapped in a recording of one window only "
                f"(at most {components.max_duration:.2f} s on this model): edit one instrument, or trim "
                f"{args.audio}"
            )
        duration = min(recording.duration, components.max_duration)
    classifier, clf_info = (
        (None, None)
        if args.method == "musicmagus"
        else _classifier_for(session.classifier, spec, components, config, args.strategy)
    )
    editor = Editor(components, classifier)
    editor.check_settings(steps, duration, guidance)

    if recording is not None and len(words) == 1:
        return _write_recording_edit(
            args,
            config,
            editor,
            recording,
            prompt,
            src.code,
            tgt.code,
            spec,
            steps,
            source_guidance,
            guidance,
            policy,
            classifier,
            clf_info,
            session.config_source,
        )
    if recording is not None:  # several words: one window
        trajectory = invert_windows(
            editor,
            recording,
            prompt,
            steps,
            source_guidance,
            LongSettings.from_config(real_cfg),
            seed=args.seed,
            target_guidance_scale=guidance,
        ).trajectories[0]
    else:
        trajectory = editor.generate(prompt, args.seed, steps, duration, guidance)
    nfe_source = editor.nfe
    if args.method == "musicmagus":
        return _write_musicmagus(args, config, editor, trajectory, src.code, tgt.code, spec, nfe_source)
    options = EditOptions(
        no_change_policy=policy,
        seed=args.seed,
        synonyms=swap_cfg["synonyms"],
        probe_classifier=classifier,
        strategy_options=strategy_options(args.strategy, config),
    )
    if len(words) == 1:
        record = edit(
            editor, trajectory, src.code, [tgt.code], args.strategy, options, rng=np.random.default_rng(args.seed)
        )[0]
        word_records = [
            {
                "source": src.code,
                "target": tgt.code,
                "swap_step": record.swap_step,
                "sigma": record.sigma,
                "reason": record.reason,
                "fallback": record.fallback,
                "probe_nfe": record.probe_nfe,
            }
        ]
        schedule = [] if record.swap_step is None or record.swap_step >= steps else [(record.swap_step, target_prompt)]
    else:
        record = edit_words(editor, trajectory, words, args.strategy, options)
        word_records = [{**vars(w)} for w in record.words]
        schedule = record.schedule
    for w in word_records:
        w["sigma"] = None if w["swap_step"] is None else float(w["sigma"])
    swap_step, reason, edited = record.swap_step, record.reason, record.audio
    log.info("swap step %s: %s", swap_step, reason)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sr = components.sample_rate
    if recording is not None:  # at the input's rate, channels, length and level; float, unclipped
        from difftone.long_audio import output_subtype, write_exact
        from difftone.real_audio import restore

        sr, subtype = recording.sample_rate, output_subtype(audio_io.info(recording.path).subtype)
        files = {"reconstruction": "reconstruction.wav"}
        write_exact(
            out / "reconstruction.wav", restore(trajectory.audio, recording, components.sample_rate), sr, subtype
        )
        if edited is not None:
            write_exact(out / "edit.wav", restore(edited, recording, components.sample_rate), sr, subtype)
            files["edit"] = "edit.wav"
    else:
        files = {"source": "source.wav"}
        audio_io.write(out / "source.wav", trajectory.audio.numpy(), sr)
        if edited is not None:
            audio_io.write(out / "edit.wav", edited.numpy(), sr)
            files["edit"] = "edit.wav"
    if args.save_trajectory:
        trajectory.save(out / "trajectory")
        files["trajectory"] = "trajectory"
    record: dict[str, Any] = {
        "prompt": prompt,
        "audio": None if recording is None else recording.info(),
        "source_guidance_scale": None if recording is None else source_guidance,
        "model_sample_rate": components.sample_rate,
        "target_prompt": target_prompt,
        "source": src.code if len(words) == 1 else [w["source"] for w in word_records],
        "target": tgt.code if len(words) == 1 else [w["target"] for w in word_records],
        "seed": args.seed,
        "config": session.config_source,
        "model": spec,
        "steps": steps,
        "duration": duration,
        "guidance_scale": guidance,
        "sample_rate": sr,
        "strategy": args.strategy,
        "no_change_policy": policy,
        "swap_step": swap_step,
        "sigma": None if swap_step is None else float(trajectory.sigmas[swap_step]),
        "reason": reason,
        "words": word_records,
        "schedule": [[int(k), p] for k, p in schedule],
        "skipped": swap_step is None,
        "fallback": record.fallback,
        "classifier": clf_info,
        "trace": None if trajectory.trace is None else trajectory.trace.to_dict(),
        "nfe": {
            ("inversion" if recording is not None else "source"): nfe_source,
            "edit": record.nfe,
            "probe": record.probe_nfe,
            "total": nfe_source + record.nfe,
        },
        "files": files,
    }
    with audio_io.atomic_path(out / "edit.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{out / 'edit.json'}: swap step {swap_step} of {steps} ({reason})")
    return 0


def _check_passage_flags(args: argparse.Namespace, real_cfg) -> None:
    """``--start``/``--end`` against the file's header, before any model is loaded (PassageError otherwise)."""
    from difftone import audio as audio_io
    from difftone.long_audio import check_passage

    head = audio_io.info(args.audio)
    check_passage(
        args.audio, args.start, args.end, head.frames / head.sample_rate, head.sample_rate, real_cfg["passage_fade"]
    )


def _write_recording_edit(
    args,
    config,
    editor,
    recording,
    prompt: str,
    src: str,
    tgt: str,
    spec: str,
    steps: int,
    source_guidance: float,
    guidance: float,
    policy: str,
    classifier,
    clf_info,
    config_source: str,
) -> int:
    """``difftone edit --audio`` of one instrument: :func:`difftone.long_audio.edit_recording` (any length, or
    ``--start``/``--end``), then ``reconstruction.wav``, ``edit.wav`` and ``edit.json`` in ``--out``."""
    from difftone.audio import atomic_path
    from difftone.engine import EditOptions, strategy_options
    from difftone.long_audio import LongSettings, edit_recording, recording_edit_record, write_exact

    real_cfg, swap_cfg = config["real_audio"], config["swap"]
    options = EditOptions(
        no_change_policy=policy,
        seed=args.seed,
        synonyms=swap_cfg["synonyms"],
        probe_classifier=classifier,
        strategy_options=strategy_options(args.strategy, config),
    )
    result = edit_recording(
        editor,
        recording,
        prompt,
        src,
        [tgt],
        args.strategy,
        LongSettings.from_config(real_cfg),
        steps=steps,
        source_guidance=source_guidance,
        target_guidance=guidance,
        seed=args.seed,
        start=args.start,
        end=args.end,
        options=options,
    )
    edit, wave = result.edits[0], result.outputs[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"reconstruction": "reconstruction.wav"}
    write_exact(out / "reconstruction.wav", result.reconstruction, result.sample_rate, result.subtype)
    if wave is not None:
        write_exact(out / "edit.wav", wave, result.sample_rate, result.subtype)
        files["edit"] = "edit.wav"
    trajectories = result.inverted.trajectories
    if args.save_trajectory:
        for i, t in enumerate(trajectories):
            t.save(out / "trajectory" / f"window-{i:03d}" if len(trajectories) > 1 else out / "trajectory")
        files["trajectory"] = "trajectory"
    step = edit.swap_step
    record = recording_edit_record(
        result,
        recording.info(),
        prompt=prompt,
        source=src,
        target=tgt,
        seed=args.seed,
        model=spec,
        steps=steps,
        guidance_scale=guidance,
        source_guidance_scale=source_guidance,
        model_sample_rate=editor.backbone.sample_rate,
        strategy=args.strategy,
        no_change_policy=policy,
        classifier=clf_info,
        config=config_source,
    )
    record["files"] = files
    with atomic_path(out / "edit.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    where = (
        "" if result.inverted.passage is None else f", passage {args.start or 0:g}-{args.end or recording.duration:g} s"
    )
    print(f"{out / 'edit.json'}: swap step {step} of {steps} over {len(trajectories)} window(s){where} ({edit.reason})")
    return 0


def _cli_captions(args: argparse.Namespace, config, codes: list[str]) -> dict[str, list[str]]:
    from difftone.captions import read_captions
    from difftone.prompts import offline_prompts

    if args.captions:
        return read_captions(args.captions, codes)
    mm = config["musicmagus"]
    return {c: offline_prompts(c, mm["n_captions"], mm["caption_seed"]) for c in codes}


def _write_musicmagus(args, config, editor, trajectory, src: str, tgt: str, spec: str, nfe_source: int) -> int:
    from difftone import audio as audio_io
    from difftone.engine.musicmagus import MusicMagusSettings, musicmagus_edit

    settings = MusicMagusSettings.from_config(config["musicmagus"])
    edit = musicmagus_edit(
        editor,
        trajectory,
        src,
        tgt,
        _cli_captions(args, config, [src, tgt]),
        settings,
        synonyms=config["swap"]["synonyms"],
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sr = editor.backbone.sample_rate
    audio_io.write(out / "source.wav", trajectory.audio.numpy(), sr)
    audio_io.write(out / "edit.wav", edit.audio.numpy(), sr)
    files = {"source": "source.wav", "edit": "edit.wav"}
    if args.save_trajectory:
        trajectory.save(out / "trajectory")
        files["trajectory"] = "trajectory"
    record = {
        "method": "musicmagus",
        "prompt": args.prompt,
        "target_prompt": edit.target_prompt,
        "source": src,
        "target": tgt,
        "seed": args.seed,
        "model": spec,
        "steps": trajectory.steps,
        "duration": trajectory.duration,
        "guidance_scale": trajectory.guidance_scale,
        "sample_rate": sr,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
        "captions": args.captions or "offline",
        "constraint_loss": edit.losses,
        "nfe": {"source": nfe_source, "edit": edit.nfe, "total": nfe_source + edit.nfe},
        "files": files,
    }
    with audio_io.atomic_path(out / "edit.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{out / 'edit.json'}: musicmagus edit {src} -> {tgt}, {edit.nfe} NFE")
    return 0


register_command(
    "edit",
    "edit the instrument of a generation, or of a recording (--audio), by a prompt swap (Diff-TONE)",
    _add_edit_arguments,
    run_edit,
)


# -- difftone studio ------------------------------------------------------------------------
def _add_studio_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--model",
        help="tiny | demo | demo:DIR | a hub id | a local snapshot folder (default: config "
        "model.spec; demo: the run's trained results/demo/model when there is one, as difftone edit)",
    )
    p.add_argument(
        "--classifier",
        help="a trained latent classifier checkpoint (default: the run's "
        "results/classifiers/distilled with the run's own model)",
    )
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="default: config model.dtype")
    p.add_argument("--device", help="cpu | cuda | cuda:N (default: config device)")
    p.add_argument(
        "--config",
        help="a difftone config file laid over ./config.yaml when there is one (as "
        "difftone edit --config); studio.* sets the upload limits",
    )


def run_studio(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"difftone studio needs gradio ({exc}): pip install 'gradio>=6,<7'") from None
    from difftone.session import resolve_session
    from difftone.studio.app import serve
    from difftone.studio.backend import Resolved

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in [0, 65535], got {args.port}")
    session = resolve_session(config_path=args.config, model=args.model, classifier=args.classifier)
    resolved = Resolved.of(session, args.device, args.dtype)
    log.info(
        "studio: model %s, classifier %s, %s %s", resolved.spec, resolved.classifier, resolved.device, resolved.dtype
    )
    serve(resolved, args.host, args.port)
    return 0


register_command(
    "studio",
    "a local browser app: generate or upload, watch the classifier decide, move the swap "
    "step and listen (Gradio, 127.0.0.1)",
    _add_studio_arguments,
    run_studio,
)


# -- entry point ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="difftone", description="Diff-TONE instrument editing for Stable Audio Open")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:
        warnings.filterwarnings("ignore")
        for name in ("diffusers", "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        if args.debug:
            raise
        print(f"difftone {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
