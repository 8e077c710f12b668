"""Snakemake wrapper: cache SAO VAE latents of every clip (difftone.classifiers.encode_sao_latents)."""

from difftone.classifiers import encode_sao_latents
from difftone.stage import rule_logging

with rule_logging(snakemake):
    encode_sao_latents(
        snakemake.input.index,
        snakemake.output[0],
        model_spec=snakemake.params.spec,
        dtype=snakemake.params.dtype,
        device=snakemake.params.device,
        batch_size=snakemake.params.batch_size,
    )
