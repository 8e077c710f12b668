"""Snakemake wrapper: every instrument's prompts (difftone.prompts.make_prompts), one after another."""

from tqdm import tqdm

from difftone.prompts import make_prompts
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    jobs = zip(p.instruments, snakemake.output.prompts, snakemake.output.sidecars)
    for instrument, prompts, sidecar in tqdm(list(jobs), desc="prompts", unit="instrument"):
        make_prompts(
            prompts,
            sidecar,
            instrument,
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
