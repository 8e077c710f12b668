from difftone.experiment.real_audio import write_table4
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    rows = list(p.rows)
    write_table4(
        p.rows,
        dict(zip(rows, snakemake.input.per_item)),
        dict(zip(rows, snakemake.input.pairs)),
        dict(zip(rows, snakemake.input.nfe)),
        snakemake.output.table,
        p.bootstrap,
    )
