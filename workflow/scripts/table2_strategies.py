from difftone.experiment.tables import write_tables
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    write_tables(
        dict(zip(p.strategies, snakemake.input.per_item)),
        dict(zip(p.strategies, snakemake.input.pairs)),
        dict(zip(p.strategies, snakemake.input.nfe)),
        snakemake.output.table2,
        snakemake.output.per_pair,
        p.bootstrap,
    )
