"""Snakemake wrapper: fit the demo model's autoencoder (difftone.demo_training.fit_demo_autoencoder)."""

from difftone.demo_training import fit_demo_autoencoder
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    settings = {k: v for k, v in p.settings.items() if k != "torch_threads"}
    fit_demo_autoencoder(
        snakemake.input.index,
        snakemake.output.autoencoder,
        instruments=p.instruments,
        settings={**settings, "clip_seconds": p.clip_seconds},
        duets_dir=snakemake.input.duets,
    )
