from difftone.experiment.tables import write_tables
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    write_tables(
        dict(zip(p.strategies, i.per_item)),
        dict(zip(p.strategies, i.skipped)),
        dict(zip(p.strategies, i.nfe)),
        i.split,
        o.table2,
        o.per_pair,
        o.paired,
        p.bootstrap,
        embeddings=dict(zip(p.strategies, i.embeddings)),
        reference_npz=i.reference,
        kad_bandwidth=p.kad_bandwidth,
    )
