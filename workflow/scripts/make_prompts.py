from difftone.prompts import make_prompts
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    make_prompts(
        snakemake.output.prompts,
        snakemake.output.sidecar,
        snakemake.wildcards.instrument,
        n=p.n,
        source=p.source,
        seed=p.seed,
        model=p.model,
        cache_dir=p.cache_dir,
        batch_size=p.batch_size,
        temperature=p.temperature,
        max_retries=p.max_retries,
        backoff_s=p.backoff_s,
    )
