"""Snakemake wrapper: render the embedded dataset's duets (difftone.data.render_duets)."""

from difftone.data import render_duets
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    render_duets(
        snakemake.output[0],
        [tuple(pair) for pair in p.pairs],
        p.clips_per_pair,
        seed=p.seed,
        sample_rate=p.sample_rate,
        clip_seconds=p.clip_seconds,
        silence_db=p.silence_db,
        soundfonts=list(p.soundfonts),
    )
