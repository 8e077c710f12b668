"""Snakemake wrapper: stratified, seeded train/val/test split by recording -> index.csv (difftone.data.split_clips)."""

from difftone.data import split_clips
from difftone.stage import rule_logging

with rule_logging(snakemake):
    split_clips(
        snakemake.input[0],
        snakemake.output[0],
        seed=snakemake.params.seed,
        val_fraction=snakemake.params.val_fraction,
        test_fraction=snakemake.params.test_fraction,
        by_score=snakemake.params.by_score,
    )
