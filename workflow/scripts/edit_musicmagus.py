from pathlib import Path

from difftone.engine.musicmagus import MusicMagusSettings
from difftone.experiment.musicmagus import run_musicmagus
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    run_musicmagus(
        dict(zip(p.sources, snakemake.input.sources)),
        p.pairs,
        Path(snakemake.input.captions[0]).parent,
        Path(snakemake.output.nfe).parent,
        model=p.model,
        settings=MusicMagusSettings.from_config(p.settings),
        sources_model=p.sources_model,
        steps=p.steps,
        guidance_scale=p.guidance_scale,
        negative_prompt=p.negative_prompt,
        synonyms=p.synonyms,
        max_sources=p.max_sources,
        split_csv=snakemake.input.split,
    )
