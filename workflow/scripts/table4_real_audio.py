from pathlib import Path

from difftone.experiment.real_audio import write_table4
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    rows = list(p.rows)
    write_table4(
        p.rows,
        dict(zip(rows, i.per_item)),
        dict(zip(rows, i.skipped)),
        dict(zip(rows, i.nfe)),
        dict(zip(rows, i.embeddings)),
        {slug: Path(folder) / "split.csv" for slug, folder in zip(rows, i.sources)},
        i.reference,
        o.table,
        p.bootstrap,
        kad_bandwidth=p.kad_bandwidth,
    )
