from difftone.experiment.scoring import embed_references
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    embed_references(snakemake.input[0], p.instruments, snakemake.output[0], clap=p.clap, device=p.device)
