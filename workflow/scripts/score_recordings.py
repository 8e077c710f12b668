from pathlib import Path

from difftone.experiment.scoring import score_edits
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    sources = Path(snakemake.input.sources)
    score_edits(
        p.strategy,
        Path(snakemake.input.swaps[0]).parents[1],
        {code: sources / code for code in p.instruments},
        p.instruments,
        snakemake.input.reference,
        snakemake.input.teacher,
        snakemake.output.per_item,
        snakemake.output.pairs,
        clap=p.clap,
        chroma=p.chroma,
        bootstrap=p.bootstrap,
        success=p.success,
        device=p.device,
    )
