from difftone.captions import make_captions
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    make_captions(
        snakemake.output.captions,
        snakemake.output.sidecar,
        snakemake.wildcards.instrument,
        n=p.n,
        source=p.source,
        seed=p.seed,
        options=p.options,
    )
