"""Write the rehearsal's offline stand-ins (difftone.rehearsal.build_standins).

    python scripts/rehearsal/build_standins.py resources/rehearsal
    HF_HOME=resources/rehearsal/hf-home HF_HUB_OFFLINE=1 snakemake --cores 2 \
        --configfile configs/paper.yaml configs/rehearsal.yaml resources/rehearsal/data.yaml

The full-size rehearsal (docs/cluster.md): ``--size real`` and configs/rehearsal-fullsize.yaml after
configs/rehearsal.yaml.
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from difftone.rehearsal import build_standins  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="resources/rehearsal", help="folder of the stand-ins")
    parser.add_argument("--instruments", nargs="+", default=["pia", "vio"], help="must match configs/rehearsal.yaml")
    parser.add_argument("--clips-per-instrument", type=int, default=8)
    parser.add_argument(
        "--size",
        choices=["tiny", "real"],
        default="tiny",
        help="tiny stand-ins (configs/rehearsal.yaml), or the real components' sizes with random "
        "weights: SAO 1.33 B, MERT-v1-95M, LAION-CLAP HTSAT-base + RoBERTa-base, AudioLDM2 1.12 B (about 8.5 GB; "
        "add configs/rehearsal-fullsize.yaml after configs/rehearsal.yaml)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(build_standins(args.out, args.instruments, args.clips_per_instrument, args.size))
