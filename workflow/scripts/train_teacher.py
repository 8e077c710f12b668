"""Snakemake wrapper: train the teacher on cached MERT features (difftone.classifiers.train_teacher)."""

from pathlib import Path

from difftone.classifiers import train_teacher
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    train_teacher(
        snakemake.input[0],
        Path(snakemake.output.weights).parent,
        p.instruments,
        p.mert,
        p.arch,
        p.stage,
        device=p.device,
        seed=p.seed,
        clip_seconds=p.clip_seconds,
        roundtrip_manifest=snakemake.input.get("roundtrip"),
    )
