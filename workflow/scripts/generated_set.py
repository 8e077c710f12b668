from difftone.experiment.sources import generated_set
from difftone.stage import rule_logging

with rule_logging(snakemake):
    generated_set(snakemake.input, snakemake.output[0])
