# Config validation, wildcard constraints and the helpers every rule file uses.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable in every job, also in `--sdm conda` environments that
# do not install it: jobs inherit PYTHONPATH from here.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH")] if p)

from difftone.config import check_config


validate(config, schema="../schemas/config.schema.yaml", set_default=True)
check_config(config)

INSTRUMENTS = config["instruments"]


wildcard_constraints:
    instrument="|".join(INSTRUMENTS),
    source="|".join(INSTRUMENTS),
    target="|".join(INSTRUMENTS),


def use_gpu():
    """GPU rules ask for one GPU exactly when the config runs models on CUDA."""
    return 1 if str(config["device"]).startswith("cuda") else 0


def get_final_output():
    """Everything `rule all` asks for; grows with the stages."""
    return ["results/data/index.csv"]
