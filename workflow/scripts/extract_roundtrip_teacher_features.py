"""Snakemake wrapper: cache the teacher's features of the round-tripped train and val clips
(difftone.classifiers.extract_roundtrip_teacher_features, through the autoencoder rule fit_demo_autoencoder wrote)."""

from difftone.classifiers import extract_roundtrip_teacher_features
from difftone.models.demo import load_demo_autoencoder
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    autoencoder = load_demo_autoencoder(snakemake.input.autoencoder)
    extract_roundtrip_teacher_features(
        snakemake.input.index,
        snakemake.output[0],
        autoencoder,
        p.roundtrip,
        kind=p.kind,
        spec=p.spec,
        revision=p.revision,
        sample_rate=p.sample_rate,
        layers=p.layers,
        device=p.device,
        batch_size=p.batch_size,
    )
