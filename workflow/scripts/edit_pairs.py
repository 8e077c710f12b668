"""Snakemake wrapper: one edit job of a strategy (difftone.experiment.edits.run_edits) on the test sources."""

from difftone.engine import EditOptions
from difftone.experiment.edits import run_edits
from difftone.experiment.split import part_items
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    sources = list(p.source_instruments)
    run_edits(
        p.strategy,
        dict(zip(sources, snakemake.input.sources)),
        p.instruments,
        snakemake.output[0],
        model=p.model,
        options=EditOptions(
            no_change_policy=p.options.get("no_change_policy", "midpoint"),
            seed=p.options.get("random_seed", p.seed),
            synonyms=p.synonyms,
        ),
        classifier=snakemake.input.classifier,
        source_instruments=sources,
        only_items=part_items(snakemake.input.split, "test"),
        window=p.window,
        batch_size=p.batch_size,
        sources_per_batch=p.sources_per_batch,
    )
