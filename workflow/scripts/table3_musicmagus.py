from difftone.experiment.musicmagus import write_table3
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    write_table3(dict(zip(p.methods, snakemake.input.per_item)), dict(zip(p.methods, snakemake.input.pairs)), p.pairs,
                 snakemake.output.table, p.bootstrap)
