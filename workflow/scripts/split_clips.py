"""Snakemake wrapper: stratified, seeded train/val/test split by recording -> index.csv (difftone.data.split_clips)."""

from difftone.data import split_clips
from difftone.data.render import heldout_clip_names
from difftone.stage import rule_logging

with rule_logging(snakemake):
    rendered, font = snakemake.input.rendered, snakemake.params.heldout_soundfont
    split_clips(
        snakemake.input.clips,
        snakemake.output[0],
        seed=snakemake.params.seed,
        val_fraction=snakemake.params.val_fraction,
        test_fraction=snakemake.params.test_fraction,
        by_score=snakemake.params.by_score,
        heldout=heldout_clip_names(rendered) if rendered and font else (),
    )
