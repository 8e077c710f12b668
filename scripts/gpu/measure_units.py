"""Measure the GPU cost of one unit of each GPU rule on the real SAO architecture (random fp16 weights).

    python scripts/gpu/measure_units.py --out measure_units.json      # on a CUDA machine, ~2-4 min

1. Builds the full-size Stable Audio Open 1.0 architecture from the diffusers configs in
   tests/fixtures/stable-audio-open-1.0-configs (DiT, Oobleck VAE, T5-base encoder, projection,
   scheduler) with random fp16 weights as a hub-layout snapshot (difftone.rehearsal.build_random_sao,
   on the CPU, about a minute) and loads it back through difftone.models.load_sao in float16 on CUDA:
   the paper run's code path. The tokenizer has t5-base's id layout but not its pieces (the
   sentencepiece model is not public; tokenizing costs nothing next to the DiT).
2. Times, with torch.cuda.synchronize and torch.cuda.max_memory_allocated per unit:
   - source generation: one prompt x seed, with the distilled-classifier hook on x0_hat
     (a paper-size latent classifier, windowed over the 10 s) and the trajectory cache;
   - an edit: one target resumed at step N/2;
   - an edit batch: the 9 other instruments batched at step N/2;
   - a batch of latents: encode_sao_latents' unit, classifiers.latent_batch_size clips of 3 s;
   - a Figure 2 row: one example at the report's swap steps (fractions 0, .25, .5, .75, .9, 1).
   Each unit runs once to warm up, then --repeats times; the fastest run counts.
Prints a Markdown table for docs/cluster.md and writes the numbers as JSON. Random weights:
the timing and memory are those of the real architecture, the audio is noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
FRACTIONS = [0, 0.25, 0.5, 0.75, 0.9, 1.0]


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up (kernels, caches)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return {"seconds": round(best, 3), "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--guidance-scale", type=float, default=7.0)
    p.add_argument("--latent-batch", type=int, default=16, help="clips per VAE batch (classifiers.latent_batch_size)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--snapshot", help="an existing snapshot folder (skips building one)")
    p.add_argument("--out", default="measure_units.json")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("measure_units.py needs a CUDA GPU")

    from difftone.classifiers.heads import ClassifierHead
    from difftone.classifiers.student import LatentClassifier, StudentEncoder
    from difftone.engine import Editor, swap_instrument
    from difftone.instruments import DEFAULT_CODES
    from difftone.models import load_sao
    from difftone.rehearsal import build_random_sao

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        snapshot = Path(args.snapshot) if args.snapshot else build_random_sao(Path(tmp) / "sao")
        built = time.perf_counter() - start
        start = time.perf_counter()
        components = load_sao(str(snapshot), dtype="float16", device="cuda")
        loaded = time.perf_counter() - start

    codes = list(DEFAULT_CODES)
    torch.manual_seed(0)
    # a paper-size distilled classifier (configs/paper.yaml: 32 student channels), 3 s training windows
    classifier = (
        LatentClassifier(
            StudentEncoder(components.latent_channels, 8, 64, 32), ClassifierHead(64, len(codes), 64, 64, 0.0), codes
        )
        .cuda()
        .eval()
    )
    classifier.window_frames = components.frames_for(3.0)
    editor = Editor(components, classifier=classifier, progress=False)
    prompt = "a gentle solo piano melody"
    source = editor.generate(prompt, 0, args.steps, args.duration, args.guidance_scale)
    half = args.steps // 2
    targets = [swap_instrument(prompt, "pia", t) for t in codes if t != "pia"]
    rows = {
        "source generation (with trace)": timed(
            lambda: editor.generate(prompt, 0, args.steps, args.duration, args.guidance_scale), args.repeats
        ),
        f"an edit (resumed at step {half})": timed(lambda: editor.edit_at(source, targets[:1], [half]), args.repeats),
        f"an edit batch ({len(targets)} targets at step {half})": timed(
            lambda: editor.edit_at(source, targets, [half] * len(targets)), args.repeats
        ),
        f"a batch of latents ({args.latent_batch} clips of 3 s)": timed(
            lambda: components.encode_audio(torch.randn(args.latent_batch, 2, 3 * components.sample_rate)), args.repeats
        ),
        "a Figure 2 row (6 swap steps)": timed(
            lambda: editor.edit_at(source, targets[:1] * len(FRACTIONS), [round(f * args.steps) for f in FRACTIONS]),
            args.repeats,
        ),
    }
    result = {
        "device": torch.cuda.get_device_name(),
        "dtype": "float16",
        "steps": args.steps,
        "duration": args.duration,
        "guidance_scale": args.guidance_scale,
        "build_seconds": round(built, 1),
        "load_seconds": round(loaded, 1),
        "units": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"| unit ({result['device']}, fp16, random weights, {args.duration:g} s, {args.steps} steps, "
        f"CFG {args.guidance_scale:g}) | seconds | peak GPU memory (GiB) |\n|---|---|---|"
    )
    for name, r in rows.items():
        print(f"| {name} | {r['seconds']} | {r['peak_gib']} |")


if __name__ == "__main__":
    main()
