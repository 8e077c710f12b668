"""Benchmark of the editing engine against diffusers: ``python -m difftone.bench --json OUT.json``.

One run on ``--model`` (default tiny) and ``--device``, same settings for every row:

1. ``StableAudioPipeline`` on the same components, one generation (``pipeline_seconds``);
2. the engine's source generation with the classifier trace (``source_seconds``; the trace is read in
   one batched call after the run: ``hook_seconds``, ``hook_ratio`` = hook / the run's denoiser time);
3. one edit resumed at step N/2 (``edit_seconds_half``);
4. the sweep: ``--sources`` S sources (one batch), each edited into 9 targets (``--targets``) with 3
   strategies (difftone, midpoint, random) from the trajectory cache, every source's edits in one
   :func:`difftone.engine.apply_edits` call (equal steps batched across sources, ``--batch-size``):
   ``nfe_cached``, ``dit_calls``, ``sweep_seconds``; the same edits regenerated from scratch (an
   uninterrupted run swapping at the same step; ``nfe_scratch`` counts N per source and edit, ``--scratch-edits``
   of them are run, default 3):
   ``nfe_scratch``, ``max_abs_diff`` (cached vs regenerated audio);
5. ``paper_scale_minutes``: 100 sources x 9 targets x 3 strategies, extrapolated linearly from the S
   measured sources (``paper_scale_extrapolated``: true);
6. optional (not with ``--skip-full-size``): the full-size SAO DiT (1.06 B parameters, random weights) per
   step against the classifier on one step's x0_hat (``full_size``).

On a GPU every timed section ends with ``torch.cuda.synchronize``, each timed unit runs once to warm up
first (compile, kernels) and the next run counts; on CPU each unit runs once (the tiny model's defaults
finish in about a minute on two cores, most of it the VAE decoding the whole window of every edit). The JSON also holds the settings, the machine, the
date and the trajectory cache's bytes per source.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from difftone.instruments import DEFAULT_CODES

STRATEGIES = ("difftone", "midpoint", "random")
PAPER_SOURCES = 100
PROMPTS = ("A soft piano melody", "A gentle piano ballad", "A bright piano tune", "A calm piano theme")
JSON_KEYS = (
    "pipeline_seconds",
    "source_seconds",
    "edit_seconds_half",
    "hook_ratio",
    "nfe_cached",
    "nfe_scratch",
    "nfe_ratio",
    "dit_calls",
    "max_abs_diff",
    "paper_scale_minutes",
)


def _classifier(components, path: str | None):
    codes = list(DEFAULT_CODES)
    if path:
        from difftone.classifiers import load_latent_classifier

        return load_latent_classifier(path, device=str(components.device)), f"{path}"
    if components.latent_channels == 64:  # a full-size SAO: the paper-size distilled student (random weights)
        clf, name = _paper_size_classifier(64)
        clf.window_frames = components.frames_for(3.0)  # reads 3 s windows, as the trained checkpoint does
        return clf.to(components.device), name
    from difftone.classifiers import tiny_latent_classifier

    clf = tiny_latent_classifier(components.latent_channels, codes, seed=0)
    return clf.to(components.device), "tiny untrained classifier"


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup: bool | None = None):
    """(result, seconds) of ``fn()``, synchronized on a GPU; ``warmup`` (default: on a GPU) calls it once before."""
    if warmup is None:
        warmup = torch.device(device).type == "cuda"
    if warmup:
        fn()
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


@contextlib.contextmanager
def pipeline_noise_bounds(scheduler):
    """The pipeline's Brownian tree on bounds covering the schedule (the documented workaround the engine
    uses, :func:`difftone.models.sao.noise_bounds`), so both draw the same noise."""
    import diffusers.schedulers.scheduling_cosine_dpmsolver_multistep as cosine

    from difftone.models.sao import noise_bounds

    lo, hi = noise_bounds(scheduler)
    stock = cosine.BrownianTreeNoiseSampler
    cosine.BrownianTreeNoiseSampler = lambda x, sigma_min, sigma_max, seed=None: stock(x, lo, hi, seed=seed)
    try:
        yield
    finally:
        cosine.BrownianTreeNoiseSampler = stock


def _denoiser_seconds(editor, fn, device) -> float:
    """Seconds ``fn()`` spends in the editor's guided denoiser evaluations (synchronized per call)."""
    spent = [0.0]
    predict = editor.predict

    def timed_predict(*args, **kwargs):
        _sync(device)
        start = time.perf_counter()
        out = predict(*args, **kwargs)
        _sync(device)
        spent[0] += time.perf_counter() - start
        return out

    editor.predict = timed_predict
    try:
        fn()
    finally:
        del editor.predict
    return spent[0]


def run_benchmark(
    model: str = "tiny",
    device: str = "cpu",
    dtype: str = "float32",
    sources: int = 1,
    steps: int = 10,
    duration: float = 1.0,
    guidance: float = 4.0,
    seed: int = 0,
    classifier: str | None = None,
    n_targets: int | None = None,
    batch_size: int | None = 16,
    window: str = "full",
    compile: bool = False,
    cache_dtype: str = "float16",
    scratch_edits: int | None = None,
) -> dict:
    """Every measured row of the module doc, as a JSON-ready dict."""
    from diffusers import StableAudioPipeline

    from difftone.engine import Editor, apply_edits, plan_edits, swap_instrument
    from difftone.models import load_sao
    from difftone.models.loader import compile_module

    if not 1 <= sources <= len(PROMPTS):
        raise ValueError(f"--sources {sources}: give 1 to {len(PROMPTS)}")
    load_start = time.perf_counter()
    components = load_sao(model, dtype=dtype, device=device, compile=compile, window=window)
    clf, clf_name = _classifier(components, classifier)
    if compile:
        compile_module(clf)
    load_seconds = time.perf_counter() - load_start
    source, half = "pia", steps // 2
    targets = [c for c in DEFAULT_CODES if c != source][:n_targets]
    prompt = PROMPTS[0]

    # 1. the diffusers pipeline (always the whole window) on the same components
    pipe = StableAudioPipeline(**components.as_pipeline_kwargs())
    pipe.set_progress_bar_config(disable=True)

    def pipeline_run():
        with pipeline_noise_bounds(components.scheduler):
            return pipe(
                prompt,
                audio_end_in_s=duration,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=[torch.Generator().manual_seed(seed)],
            ).audios

    pipeline_audio, pipeline_seconds = timed(pipeline_run, device)

    # 2. one source with its trace; 3. one edit at N/2
    editor = Editor(components, clf, progress=False, cache_dtype=cache_dtype, batch_size=batch_size)
    trajectory, source_seconds = timed(lambda: editor.generate(prompt, seed, steps, duration, guidance), device)
    hook_seconds = editor.classifier_hook.seconds / editor.classifier_hook.calls  # one batched read per run
    # the run's denoiser time (each guided evaluation timed; on a GPU in a run of its own: it syncs per step)
    denoiser_seconds = _denoiser_seconds(
        editor, lambda: editor.generate(prompt, seed, steps, duration, guidance), device
    )
    one_target = [swap_instrument(prompt, source, targets[0])]
    _, edit_seconds_half = timed(lambda: editor.resume(trajectory, [(half, one_target)]), device)  # one edit
    with tempfile.TemporaryDirectory() as tmp:
        folder = trajectory.save(Path(tmp) / "source")
        cache_bytes = (folder / "tensors.safetensors").stat().st_size
    audio_bytes = trajectory.audio.numel() * 4

    # 4. the sweep: S sources, 9 targets x 3 strategies each, batched across sources
    prompts = list(PROMPTS[:sources])
    seeds = [seed + i for i in range(sources)]
    sweep = Editor(components, clf, progress=False, cache_dtype=cache_dtype, batch_size=batch_size)

    def run_sweep():
        sweep.nfe = sweep.calls = 0
        trajs = sweep.generate(prompts, seeds, steps, duration, guidance)
        gen_nfe = sweep.nfe
        jobs = []
        for j, traj in enumerate(trajs):
            plans = []
            for strategy in STRATEGIES:
                plans += plan_edits(
                    sweep,
                    traj,
                    source,
                    targets,
                    strategy,
                    item=f"s{j}",
                    rng=lambda t, j=j: np.random.default_rng([seed, j, targets.index(t)]),
                )
            jobs.append((traj, plans))
        records = apply_edits(sweep, [t for t, _ in jobs], [plans for _, plans in jobs])
        return trajs, jobs, records, gen_nfe

    # warm-up only on a GPU (compiled shapes, kernels); on CPU the runs above warmed the code
    (trajs, jobs, records, gen_nfe), sweep_seconds = timed(run_sweep, device)
    nfe_cached, dit_calls = sweep.nfe, sweep.calls
    edits = [
        (traj, plan, rec)
        for (traj, plans), recs in zip(jobs, records)
        for plan, rec in zip(plans, recs)
        if plan.swap_step is not None
    ]

    # the same edits regenerated from scratch: N NFE per source and per edit
    nfe_scratch = len(trajs) * steps + len(edits) * steps
    scratch = Editor(components, progress=False)
    worst = 0.0
    checked = edits if scratch_edits is None else edits[:scratch_edits]
    scratch_start = time.perf_counter()
    for traj, plan, rec in checked:
        audio = scratch.sample(
            [traj.prompt], [traj.seed], steps, duration, guidance, changes=[(plan.swap_step, [plan.target_prompt])]
        )[0]
        worst = max(worst, float((audio - rec.audio).abs().max()))
    _sync(device)
    scratch_seconds = time.perf_counter() - scratch_start

    per_source = sweep_seconds / len(trajs)
    edits_per_source = len(STRATEGIES) * len(targets)
    frames, window_frames = components.frames_for(duration), int(trajectory.latents.shape[-1])
    return {
        "model": model,
        "device": device,
        "device_name": _device_name(device),
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "host": platform.node(),
        "date": datetime.date.today().isoformat(),
        "window": window,
        "compile": compile,
        "cache_dtype": cache_dtype,
        "batch_size": batch_size,
        "classifier": clf_name,
        "steps": steps,
        "duration": duration,
        "guidance_scale": guidance,
        "sources": len(trajs),
        "targets": targets,
        "strategies": list(STRATEGIES),
        "load_seconds": load_seconds,
        "pipeline_seconds": pipeline_seconds,
        # the engine's source equals the pipeline (window full; tests/test_engine.py): measured here too
        "pipeline_max_abs_diff": float((pipeline_audio[0].float().cpu() - trajectory.audio).abs().max()),
        "source_seconds": source_seconds,
        "source_ratio": source_seconds / pipeline_seconds,
        "edit_seconds_half": edit_seconds_half,
        "edit_ratio_half": edit_seconds_half / pipeline_seconds,
        "hook_seconds": hook_seconds,
        "denoiser_seconds": denoiser_seconds,
        "hook_ratio": hook_seconds / denoiser_seconds,
        "sweep_seconds": sweep_seconds,
        "sweep_seconds_per_source": per_source,
        "nfe_sources": gen_nfe,
        "nfe_cached": nfe_cached,
        "nfe_scratch": nfe_scratch,
        "nfe_ratio": nfe_cached / nfe_scratch,
        "dit_calls": dit_calls,
        "edits": len(edits),
        "scratch_edits_checked": len(checked),
        "scratch_seconds": scratch_seconds,
        "max_abs_diff": worst,
        "paper_scale_sources": PAPER_SOURCES,
        "paper_scale_edits_per_source": edits_per_source,
        "paper_scale_minutes": per_source * PAPER_SOURCES / 60.0,
        "paper_scale_extrapolated": True,
        "paper_scale_note": f"extrapolated linearly from {len(trajs)} measured source(s) x {edits_per_source} "
        f"edits ({len(targets)} targets x {len(STRATEGIES)} strategies) to {PAPER_SOURCES}",
        "latent_frames": frames,
        "window_frames": window_frames,
        "cache_bytes_per_source": cache_bytes,
        "cache_audio_bytes": audio_bytes,
        "cache_bytes_paper_arithmetic": {
            "float32_full_window": 201 * 64 * 1024 * 4,
            "float16_full_window": 201 * 64 * 1024 * 2,
            "float16_duration_window_10s": 201 * 64 * (216 + 8) * 2,
            "audio_10s_stereo_float32": 441000 * 2 * 4,
            "note": "101 latents + 100 x0_hat of 64 channels at 100 steps, plus the source audio either way; "
            "216 frames = 10 s, + 8 frames margin",
        },
    }


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def _paper_size_classifier(in_channels: int):
    """The student classifier as the classifiers package builds it by default."""
    from difftone.classifiers import ClassifierHead, LatentClassifier, StudentEncoder

    codes = list(DEFAULT_CODES)
    student = StudentEncoder(in_channels)
    head = ClassifierHead(student.config["feature_dim"], len(codes))
    return LatentClassifier(student, head, codes).eval(), "difftone.classifiers LatentClassifier (default sizes)"


@torch.no_grad()
def full_size_hook_ratio(device: str, dtype: str, denoiser_steps: int, steps: int, duration: float) -> dict:
    """The full-size SAO DiT (random weights) per CFG step over the whole window, against the batched trace
    read of ``steps`` steps' x0_hat by a default-size latent classifier: ``ratio`` = read / (steps x DiT step)."""
    from diffusers import StableAudioDiTModel

    from difftone.engine import ClassifierHook
    from difftone.models import rotary_embedding
    from difftone.models.loader import DTYPES, SAO_TRANSFORMER_CONFIG

    cfg, torch_dtype = SAO_TRANSFORMER_CONFIG, DTYPES[dtype]
    dit = StableAudioDiTModel(**cfg).to(device=device, dtype=torch_dtype).eval()
    n_params = sum(p.numel() for p in dit.parameters())
    window, channels = cfg["sample_size"], cfg["in_channels"]
    x = torch.randn(2, channels, window, device=device, dtype=torch_dtype)  # CFG: [uncond; cond]
    enc = torch.randn(2, 128 + 2, cfg["cross_attention_input_dim"], device=device, dtype=torch_dtype)
    glob = torch.randn(2, 1, cfg["global_states_input_dim"], device=device, dtype=torch_dtype)
    rotary = rotary_embedding(dit, window + 1, device)
    t = torch.tensor([0.5], device=device)
    times = []
    for _ in range(max(1, denoiser_steps)):
        _, seconds = timed(
            lambda: dit(  # noqa: F821 (dit is deleted after the loop, to free the memory)
                x, t, encoder_hidden_states=enc, global_hidden_states=glob, rotary_embedding=rotary, return_dict=False
            ),
            device,
            warmup=not times,
        )
        times.append(seconds)
    del dit
    clf, clf_name = _paper_size_classifier(channels)
    hook = ClassifierHook(clf.to(device))
    frames = int(np.ceil(duration * 44100 / 2048))
    x0_hat = torch.randn(1, steps, channels, frames, device=device)
    _, read_seconds = timed(lambda: hook.read(x0_hat, [1.0] * steps), device)
    step_seconds = min(times)
    return {
        "device": device,
        "dtype": dtype,
        "dit_parameters": n_params,
        "denoiser_step_seconds": times,
        "classifier": clf_name,
        "frames": frames,
        "steps": steps,
        "trace_read_seconds": read_seconds,
        "ratio": read_seconds / (steps * step_seconds),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m difftone.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny", help="model spec: tiny | a snapshot folder | a hub id (default tiny)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--sources", type=int, default=1, help="sources of the sweep (S; 1-4), each with 27 edits")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--classifier", help="latent classifier checkpoint (default: untrained tiny)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--duration", type=float, default=1.0, help="seconds generated and edited")
    p.add_argument("--guidance-scale", type=float, default=4.0)
    p.add_argument(
        "--targets",
        type=int,
        default=None,
        help="edit to the first TARGETS other instruments only (default: all 9; a quick smoke run)",
    )
    p.add_argument("--batch-size", type=int, default=16, help="edits per batched denoiser call (edits.batch_size)")
    p.add_argument("--window", default="full", choices=["full", "duration"], help="model.window")
    p.add_argument("--compile", action="store_true", help="model.compile: torch.compile the DiT and the classifier")
    p.add_argument("--cache-dtype", default="float16", choices=["float16", "float32"], help="generation.cache_dtype")
    p.add_argument(
        "--scratch-edits",
        type=int,
        default=3,
        help="edits regenerated from scratch for max_abs_diff (default 3; 0: all; nfe_scratch counts all)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--denoiser-steps", type=int, default=2, help="full-size DiT steps to time (the fastest counts)")
    p.add_argument("--skip-full-size", action="store_true", help="skip the full-size denoiser timing")
    args = p.parse_args(argv)
    if args.targets is not None and not 1 <= args.targets <= len(DEFAULT_CODES) - 1:
        p.error(f"--targets {args.targets}: give 1 to {len(DEFAULT_CODES) - 1} (the other instruments)")
    if not 1 <= args.sources <= len(PROMPTS):
        p.error(f"--sources {args.sources}: give 1 to {len(PROMPTS)}")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here; use --device cpu")

    result = run_benchmark(
        args.model,
        args.device,
        args.dtype,
        args.sources,
        args.steps,
        args.duration,
        args.guidance_scale,
        args.seed,
        args.classifier,
        args.targets,
        args.batch_size,
        args.window,
        args.compile,
        args.cache_dtype,
        args.scratch_edits or None,
    )
    if not args.skip_full_size:
        result["full_size"] = full_size_hook_ratio(
            args.device, args.dtype, args.denoiser_steps, args.steps, args.duration
        )
    print_result(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return result


def print_result(r: dict) -> None:
    print(
        f"== {r['model']} on {r['device']} ({r['device_name']}, {r['dtype']}, {r['threads']} threads), "
        f"{r['steps']} steps, {r['duration']:g} s, CFG {r['guidance_scale']:g}, window {r['window']}, "
        f"compile {r['compile']}, cache {r['cache_dtype']}"
    )
    print(f"  diffusers pipeline, one generation: {r['pipeline_seconds']:.3f} s")
    print(
        f"  engine source + trace: {r['source_seconds']:.3f} s ({r['source_ratio']:.2f}x the pipeline); "
        f"trace read {r['hook_seconds'] * 1e3:.2f} ms = {r['hook_ratio'] * 100:.2f} % of the denoiser time"
    )
    print(f"  one edit at step {r['steps'] // 2}: {r['edit_seconds_half']:.3f} s ({r['edit_ratio_half']:.2f}x)")
    print(
        f"  sweep: {r['sources']} source(s) x {len(r['targets'])} targets x {len(r['strategies'])} strategies: "
        f"{r['sweep_seconds']:.2f} s, {r['nfe_cached']} NFE in {r['dit_calls']} DiT calls; from scratch "
        f"{r['nfe_scratch']} NFE; NFE ratio {r['nfe_ratio']:.3f}; max |cached - scratch| {r['max_abs_diff']:.2e} "
        f"({r['scratch_edits_checked']} edits regenerated)"
    )
    print(
        f"  paper scale (extrapolated): {r['paper_scale_minutes']:.2f} min; cache {r['cache_bytes_per_source']} "
        f"bytes per source ({r['window_frames']} frames)"
    )
    if "full_size" in r:
        f = r["full_size"]
        print(
            f"  full-size DiT ({f['dit_parameters'] / 1e9:.2f} B): {min(f['denoiser_step_seconds']):.3f} s per CFG "
            f"step; trace read of {f['steps']} steps {f['trace_read_seconds'] * 1e3:.1f} ms = "
            f"{f['ratio'] * 100:.3f} % of the denoiser"
        )


if __name__ == "__main__":
    main()
