"""Snakemake wrapper: stratified, seeded train/validation split -> index.csv (difftone.data.split_clips)."""

from difftone.data import split_clips
from difftone.stage import rule_logging

with rule_logging(snakemake):
    split_clips(snakemake.input[0], snakemake.output[0], seed=snakemake.params.seed,
                val_fraction=snakemake.params.val_fraction)
