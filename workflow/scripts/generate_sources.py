"""Snakemake wrapper: the sources of a group of instruments, one folder each (difftone.experiment.sources)."""

from pathlib import Path

from difftone.experiment.sources import generate_instrument_sources
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    out = Path(snakemake.output[0])
    generate_instrument_sources(
        dict(zip(p.instruments, snakemake.input.prompts)),
        {code: out / code for code in p.instruments},
        model=p.model,
        classifier=snakemake.input.classifier,
        seeds=p.seeds,
        steps=p.steps,
        duration=p.duration,
        guidance_scale=p.guidance_scale,
        batch_size=p.batch_size,
        window=p.window,
        cache_dtype=p.cache_dtype,
    )
