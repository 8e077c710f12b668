"""Benchmark of the editing engine: ``python -m difftone.bench``.

1. NFE of a sweep: one source, 9 targets (every other instrument; ``--targets`` takes the
   first few), 3 strategies (difftone, midpoint, random), edited from the trajectory cache with equal swap
   steps batched, against regenerating every edit from scratch (an uninterrupted run
   that swaps at the same step). Runs the real loop on ``--model`` (default tiny) and
   checks that both give the same audio.
2. The classifier hook's time per step as a ratio of one full-size SAO denoiser step
   (the real DiT architecture, 1.06 B parameters, random weights, CFG batch of 2 over
   the 1024-frame window), on ``--device``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from difftone.instruments import DEFAULT_CODES


def _classifier(components, path: str | None):
    codes = list(DEFAULT_CODES)
    if path:
        from difftone.classifiers import load_latent_classifier

        return load_latent_classifier(path), f"{path}"
    from difftone.classifiers import tiny_latent_classifier

    return tiny_latent_classifier(components.latent_channels, codes, seed=0), "tiny untrained classifier"


def nfe_sweep(model: str, steps: int, duration: float, guidance: float, seed: int, classifier: str | None,
              n_targets: int | None = None) -> dict:
    from difftone.engine import Editor, apply_edits, plan_edits
    from difftone.models import load_backbone

    components = load_backbone(model)
    clf, clf_name = _classifier(components, classifier)
    prompt, source = "A soft piano melody", "pia"
    targets = [c for c in DEFAULT_CODES if c != source][:n_targets]

    cached = Editor(components, clf, progress=False)
    start = time.perf_counter()
    trajectory = cached.generate_source(prompt, seed, steps, duration, guidance)
    plans = {
        strategy: plan_edits(cached, trajectory, source, targets, strategy,
                             rng=lambda t: np.random.default_rng([seed, targets.index(t)]))
        for strategy in ("difftone", "midpoint", "random")
    }
    # every strategy's edits in one call: equal swap steps share a batch, equal (target, step) run once
    records = apply_edits(cached, trajectory, [p for strategy_plans in plans.values() for p in strategy_plans])
    edits = {strategy: [r.audio for r in records if r.strategy == strategy] for strategy in plans}
    plan = {strategy: [(p.swap_step, p.reason) for p in strategy_plans] for strategy, strategy_plans in plans.items()}
    target_prompts = [p.target_prompt for p in plans["midpoint"]]
    cached_seconds = time.perf_counter() - start

    scratch = Editor(components, progress=False)
    start = time.perf_counter()
    scratch.generate([prompt], [seed], steps, duration, guidance)
    worst = 0.0
    for strategy, choices in plan.items():
        for j, (k, _) in enumerate(choices):
            if k is None:
                continue
            audio = scratch.generate([prompt], [seed], steps, duration, guidance, swap_prompts=[target_prompts[j]],
                                     swap_step=k)[0]
            worst = max(worst, float((audio - edits[strategy][j]).abs().max()))
    scratch_seconds = time.perf_counter() - start
    return {
        "model": model, "classifier": clf_name, "steps": steps, "targets": targets, "plan": plan,
        "cached_nfe": cached.nfe, "cached_calls": cached.calls, "cached_seconds": cached_seconds,
        "scratch_nfe": scratch.nfe, "scratch_calls": scratch.calls, "scratch_seconds": scratch_seconds,
        "max_abs_diff": worst,
    }


def _paper_size_classifier(in_channels: int):
    """The student classifier as the classifiers package builds it by default."""
    from difftone.classifiers import ClassifierHead, LatentClassifier, StudentEncoder

    codes = list(DEFAULT_CODES)
    student = StudentEncoder(in_channels)
    head = ClassifierHead(student.config["feature_dim"], len(codes))
    return LatentClassifier(student, head, codes).eval(), "difftone.classifiers LatentClassifier (default sizes)"


@torch.no_grad()
def hook_ratio(device: str, denoiser_steps: int, hook_calls: int, duration: float) -> dict:
    from diffusers import StableAudioDiTModel

    from difftone.engine import ClassifierHook
    from difftone.models import rotary_embedding
    from difftone.models.loader import SAO_TRANSFORMER_CONFIG

    cfg = SAO_TRANSFORMER_CONFIG
    dit = StableAudioDiTModel(**cfg).to(device).eval()
    n_params = sum(p.numel() for p in dit.parameters())
    window, channels = cfg["sample_size"], cfg["in_channels"]
    x = torch.randn(2, channels, window, device=device)  # CFG: [uncond; cond]
    enc = torch.randn(2, 128 + 2, cfg["cross_attention_input_dim"], device=device)
    glob = torch.randn(2, 1, cfg["global_states_input_dim"], device=device)
    rotary = rotary_embedding(dit, window + 1, device)
    t = torch.tensor([0.5], device=device)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = []
    for _ in range(denoiser_steps):
        sync()
        start = time.perf_counter()
        dit(x, t, encoder_hidden_states=enc, global_hidden_states=glob, rotary_embedding=rotary, return_dict=False)
        sync()
        times.append(time.perf_counter() - start)
    del dit

    clf, clf_name = _paper_size_classifier(channels)
    hook = ClassifierHook(clf.to(device))
    frames = int(np.ceil(duration * 44100 / 2048))
    x0_hat = torch.randn(1, channels, frames, device=device)
    hook(0, 1.0, x0_hat)  # warm-up
    hook.seconds, hook.calls = 0.0, 0
    for i in range(hook_calls):
        hook(i, 1.0, x0_hat)
    sync()
    hook_seconds = hook.seconds / hook.calls
    step_seconds = min(times)
    return {
        "device": device, "dit_parameters": n_params, "denoiser_step_seconds": times, "classifier": clf_name,
        "frames": frames, "hook_seconds": hook_seconds, "ratio": hook_seconds / step_seconds,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m difftone.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny", help="model spec for the NFE sweep (default tiny)")
    p.add_argument("--classifier", help="latent classifier checkpoint for the difftone strategy (default: untrained tiny)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--duration", type=float, default=3.0, help="seconds (sweep); the hook reads these frames")
    p.add_argument("--targets", type=int, default=None,
                   help="edit to the first TARGETS other instruments only (default: all 9; a quick smoke run)")
    p.add_argument("--guidance-scale", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="device of the full-size denoiser timing")
    p.add_argument("--denoiser-steps", type=int, default=2, help="full-size DiT steps to time (the fastest counts)")
    p.add_argument("--hook-calls", type=int, default=20)
    p.add_argument("--skip-full-size", action="store_true", help="skip the full-size denoiser timing")
    p.add_argument("--skip-sweep", action="store_true", help="skip the NFE sweep")
    args = p.parse_args(argv)
    if args.targets is not None and not 1 <= args.targets <= len(DEFAULT_CODES) - 1:
        p.error(f"--targets {args.targets}: give 1 to {len(DEFAULT_CODES) - 1} (the other instruments)")

    if not args.skip_sweep:
        print_sweep(nfe_sweep(args.model, args.steps, args.duration, args.guidance_scale, args.seed, args.classifier,
                               args.targets))
    if args.skip_full_size:
        return
    hook = hook_ratio(args.device, args.denoiser_steps, args.hook_calls, args.duration)
    print(f"== classifier hook vs one full-size SAO denoiser step ({hook['device']}, "
          f"{torch.get_num_threads()} threads)")
    print(f"  DiT {hook['dit_parameters'] / 1e9:.2f} B parameters, CFG batch 2 x 1024 frames: "
          f"{', '.join(f'{s:.2f}' for s in hook['denoiser_step_seconds'])} s per step")
    print(f"  hook ({hook['classifier']}) on x0_hat [1, 64, {hook['frames']}]: {hook['hook_seconds'] * 1e3:.2f} ms")
    print(f"  hook / denoiser step = {hook['ratio'] * 100:.3f} % (aim < 1 %)")


def print_sweep(sweep: dict) -> None:
    n = sweep["steps"]
    print(f"== NFE: 1 source + {len(sweep['targets'])} targets x 3 strategies, N = {n} steps, model {sweep['model']} "
          f"({sweep['classifier']})")
    for strategy, choices in sweep["plan"].items():
        steps = [k for k, _ in choices]
        print(f"  {strategy:9s} swap steps {steps}  ({choices[0][1]})")
    ratio = sweep["cached_nfe"] / sweep["scratch_nfe"]
    print(f"  cached + batched: {sweep['cached_nfe']} NFE in {sweep['cached_calls']} DiT calls "
          f"({sweep['cached_seconds']:.1f} s)")
    print(f"  from scratch:     {sweep['scratch_nfe']} NFE in {sweep['scratch_calls']} DiT calls "
          f"({sweep['scratch_seconds']:.1f} s)")
    print(f"  NFE ratio cached/scratch = {ratio:.3f} (aim < 0.5); calls ratio = "
          f"{sweep['cached_calls'] / sweep['scratch_calls']:.3f}; max |cached - scratch| audio = {sweep['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
