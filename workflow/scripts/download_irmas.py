"""Snakemake wrapper: download the IRMAS training zip and check its md5 (difftone.data.download)."""

from difftone.data import download
from difftone.stage import rule_logging

with rule_logging(snakemake):
    download(snakemake.params.url, snakemake.output[0], snakemake.params.md5)
