"""How fast the studio answers: start-up, generate with trace, one edit, hear every step.

    python -m difftone.studio.bench [--config FILE] [--model SPEC] [--classifier DIR] [--threads 2] [--repeats 3]

Start-up: from resolving the session (:func:`difftone.session.resolve_session`) to the page answering HTTP. The others time the studio's
backend calls the page makes (:class:`difftone.studio.backend.Studio`), on the configured
steps and duration: ``generate`` (a source with its classifier trace), one edit of the kept
trajectory (Diff-TONE's step), and "hear every step" (``studio.steps_to_hear`` steps in one
click). Prints one line per action (median of ``--repeats``) and the JSON of all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


def measure(config: str | None, model: str | None, repeats: int, classifier: str | None = None) -> dict:
    from difftone.session import resolve_session
    from difftone.studio.app import serve
    from difftone.studio.backend import Resolved

    start = time.perf_counter()
    resolved = Resolved.of(resolve_session(config_path=config, model=model, classifier=classifier))
    demo, url = serve(resolved, "127.0.0.1", None, block=False)
    urllib.request.urlopen(url, timeout=60).read()
    startup = time.perf_counter() - start
    studio = demo.studio
    words = [("pia", "vio")]
    times: dict[str, list[float]] = {"generate with trace": [], "one edit": [], "hear every step": []}
    steps = None
    try:
        for r in range(repeats):
            t = time.perf_counter()
            trajectory = studio.generate("A soft piano melody", r)
            times["generate with trace"].append(time.perf_counter() - t)
            t = time.perf_counter()
            edit = studio.edit_once(trajectory, words, "difftone" if studio.classifier is not None else "midpoint", r)
            times["one edit"].append(time.perf_counter() - t)
            steps = studio.hear_steps(None)
            t = time.perf_counter()
            studio.edit_at_steps(trajectory, words, steps)
            times["hear every step"].append(time.perf_counter() - t)
    finally:
        demo.close()
    out = {
        "model": resolved.spec,
        "classifier": resolved.classifier,
        "steps": studio.steps,
        "duration": studio.duration,
        "hear_steps": steps,
        "last_swap_step": edit.swap_step,
        "start-up": round(startup, 2),
    }
    out.update({k: round(statistics.median(v), 2) for k, v in times.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m difftone.studio.bench", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="a difftone config (default: ./config.yaml when present)")
    p.add_argument("--model", help="a model spec (default: difftone edit's resolution in this folder)")
    p.add_argument("--classifier", help="a latent classifier checkpoint (default: difftone edit's resolution)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = measure(args.config, args.model, args.repeats, args.classifier)
    for key in ("start-up", "generate with trace", "one edit", "hear every step"):
        print(f"{key:>20}: {result[key]:6.2f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
