"""Snakemake wrapper: distil the teacher representation into the student (difftone.classifiers.distill_student)."""

from pathlib import Path

from difftone.classifiers import distill_student
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i = snakemake.params, snakemake.input
    distill_student(
        Path(i.teacher).parent,
        i.mert,
        i.latents,
        Path(snakemake.output.weights).parent,
        p.arch,
        p.stage,
        device=snakemake.params.device,
        seed=p.seed,
    )
