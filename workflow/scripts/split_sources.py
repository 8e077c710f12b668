"""Snakemake wrapper: the tuning/test split of the sources (difftone.experiment.split)."""

from difftone.experiment.split import split_sources
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    split_sources(
        dict(zip(p.instruments, snakemake.input)),
        snakemake.output[0],
        tuning_per_instrument=p.tuning_per_instrument,
        seed=p.seed,
    )
