"""Snakemake wrapper: the independent MFCC judge on the train split (difftone.classifiers.judge)."""

from difftone.classifiers.judge import train_mfcc_judge
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    train_mfcc_judge(
        snakemake.input[0],
        p.instruments,
        snakemake.output[0],
        n_mfcc=p.judge["n_mfcc"],
        sample_rate=p.judge["sample_rate"],
        c=p.judge["c"],
        seed=p.seed,
    )
