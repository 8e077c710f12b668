"""Snakemake wrapper: train the non-distilled baseline on SAO latents (difftone.classifiers.train_baseline)."""

from pathlib import Path

from difftone.classifiers import train_baseline
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    train_baseline(
        snakemake.input[0],
        Path(snakemake.output.weights).parent,
        p.instruments,
        p.arch,
        p.stage,
        device=snakemake.params.device,
        seed=p.seed,
    )
