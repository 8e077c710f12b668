from difftone.experiment.musicmagus import write_table3
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    write_table3(
        dict(zip(p.methods, i.per_item)),
        dict(zip(p.methods, i.skipped)),
        i.split,
        p.pairs,
        o.table,
        o.paired,
        p.bootstrap,
        nfe_jsons=dict(zip(p.methods, i.nfe)),
        embeddings=dict(zip(p.methods, i.embeddings)),
        reference_npz=i.reference,
        kad_bandwidth=p.kad_bandwidth,
    )
