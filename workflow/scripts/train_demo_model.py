"""Snakemake wrapper: train the demo model family (difftone.demo_training.train_demo_model)."""

from difftone.demo_training import train_demo_model
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    settings = {k: v for k, v in p.settings.items() if k != "torch_threads"}
    train_demo_model(
        snakemake.input.index,
        snakemake.output.model,
        snakemake.output.losses,
        snakemake.output.figure,
        instruments=p.instruments,
        settings={**settings, "clip_seconds": p.clip_seconds},
        threads=p.settings["torch_threads"],
        device=snakemake.params.device,
        duets_dir=snakemake.input.duets,
    )
