"""Snakemake wrapper: train the head on the frozen student (difftone.classifiers.train_student_head)."""

from pathlib import Path

from difftone.classifiers import train_student_head
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i = snakemake.params, snakemake.input
    train_student_head(
        Path(i.student).parent,
        i.latents,
        Path(snakemake.output.weights).parent,
        p.arch,
        p.stage,
        device=snakemake.params.device,
        seed=p.seed,
    )
