"""Snakemake wrapper: cache the teacher's features of the round-tripped train and val clips
(difftone.classifiers.extract_roundtrip_teacher_features, with difftone.demo_training.demo_autoencoder)."""

from difftone.classifiers import extract_roundtrip_teacher_features
from difftone.demo_training import demo_autoencoder
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    autoencoder = demo_autoencoder(snakemake.input.index, p.instruments, {**p.demo, "clip_seconds": p.clip_seconds},
                                   duets_dir=snakemake.input.duets)
    extract_roundtrip_teacher_features(snakemake.input.index, snakemake.output[0], autoencoder, p.roundtrip,
                                       kind=p.kind, spec=p.spec, revision=p.revision, sample_rate=p.sample_rate,
                                       layers=p.layers, device=p.device, batch_size=p.batch_size)
