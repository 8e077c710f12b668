"""Snakemake wrapper: check every clip -> clips.csv + rejected.csv (difftone.data.scan_clips)."""

from difftone.data import scan_clips
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    scan_clips(
        snakemake.input[0],
        list(p.instruments),
        snakemake.output.clips,
        snakemake.output.rejected,
        sample_rate=p.sample_rate,
        clip_seconds=p.clip_seconds,
        policy=p.policy,
        silence_db=p.silence_db,
        max_silent_fraction=p.max_silent_fraction,
        length_tolerance=p.length_tolerance,
    )
