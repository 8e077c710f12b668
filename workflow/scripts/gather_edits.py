"""Snakemake wrapper: gather a strategy's edit jobs into results/edits/<strategy>/ (difftone.experiment.gather)."""

from pathlib import Path

from difftone.experiment.gather import gather_edits
from difftone.stage import rule_logging

with rule_logging(snakemake):
    gather_edits(dict(zip(snakemake.input, snakemake.params.jobs)), Path(snakemake.output.nfe).parent)
