"""Snakemake wrapper: cache the teacher's features of every clip (difftone.classifiers.extract_teacher_features)."""

from difftone.classifiers import extract_teacher_features
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    extract_teacher_features(
        snakemake.input[0],
        snakemake.output[0],
        kind=p.kind,
        spec=p.spec,
        revision=p.revision,
        sample_rate=p.sample_rate,
        layers=p.layers,
        device=p.device,
        batch_size=p.batch_size,
    )
