"""The independent check: score a finished run's classifiers on clips of a soundfont the run never used.

    apt-get install fluidr3mono-gm-soundfont     # kept out of the embedded dataset (difftone.data.soundfonts)
    python scripts/independent_check.py --soundfont FluidR3Mono_GM
    python scripts/independent_check.py --soundfont /path/to/other.sf2 --clips 20

Reads the run's classifiers (results/classifiers/) and demo model in the working directory, renders
``--clips`` clips per instrument on scores no dataset clip plays (each instrument's own General MIDI patch),
and writes results/independent/<soundfont>/accuracy.csv (accuracy, percentile bootstrap interval, n) beside
the clips. See difftone.classifiers.independent.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from difftone.classifiers.independent import independent_check
from difftone.classifiers.judge import load_judge
from difftone.data.soundfonts import soundfont_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--soundfont", required=True, help="a name of difftone.data.soundfonts or a .sf2/.sf3 path")
    ap.add_argument("--clips", type=int, default=10, help="clips per instrument (default 10)")
    ap.add_argument("--config", default="config.yaml", help="the run's config (its model and judge)")
    ap.add_argument("--results", default="results", help="the run's results folder")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = yaml.safe_load(Path(args.config).read_text())
    results = Path(args.results)
    model = config.get("model", {}).get("spec", "demo")
    if model == "demo":
        model = f"demo:{results / 'demo' / 'model'}"
    judge = None
    if config.get("judge", {}).get("kind", "mfcc_logreg") == "mfcc_logreg":
        judge = load_judge(config.get("judge", {}), results / "classifiers" / "judge" / "model.json")
    table = independent_check(
        results / "independent" / soundfont_name(args.soundfont),
        args.soundfont,
        results / "classifiers",
        model,
        judge=judge,
        clips=args.clips,
        seed=int(config.get("seed", 0)),
    )
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
