"""Snakemake wrapper: cache MERT hidden states of every clip (difftone.classifiers.extract_mert_features)."""

from difftone.classifiers import extract_mert_features
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    extract_mert_features(snakemake.input[0], snakemake.output[0], spec=p.spec, revision=p.revision,
                          sample_rate=p.sample_rate, layers=p.layers, device=snakemake.params.device,
                          batch_size=p.batch_size)
