"""Snakemake wrapper: extract the IRMAS training zip (difftone.data.extract)."""

from difftone.data import extract
from difftone.stage import rule_logging

with rule_logging(snakemake):
    extract(snakemake.input[0], snakemake.output[0])
