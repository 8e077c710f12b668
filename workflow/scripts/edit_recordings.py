from pathlib import Path

from difftone.engine import EditOptions
from difftone.experiment.edits import run_edits
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    sources = Path(snakemake.input.sources)
    run_edits(
        p.strategy,
        {code: sources / code for code in p.instruments},
        p.instruments,
        Path(snakemake.output.nfe).parent,
        model=p.model,
        options=EditOptions(
            no_change_policy=p.options.get("no_change_policy", "midpoint"),
            seed=p.options.get("random_seed", p.seed),
            synonyms=p.synonyms,
        ),
        classifier=snakemake.input.classifier,
        target_guidance_scale=p.target_guidance,
    )
