"""Snakemake wrapper: render the embedded dataset (difftone.data.render_embedded)."""

from difftone.data import render_embedded
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    render_embedded(
        snakemake.output[0],
        list(p.instruments),
        p.clips_per_instrument,
        seed=p.seed,
        sample_rate=p.sample_rate,
        clip_seconds=p.clip_seconds,
        silence_db=p.silence_db,
        soundfonts=list(p.soundfonts),
        heldout_soundfont=p.heldout_soundfont,
        heldout_clips=p.heldout_clips,
        patch_variants=p.patch_variants,
        workers=snakemake.threads,
    )
