from pathlib import Path

from difftone.experiment.swap_steps import edit_swap_steps
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    sources = {Path(d).name: d for d in snakemake.input.sources}
    edit_swap_steps(
        sources,
        [tuple(pair) for pair in p.examples],
        snakemake.output.audio,
        model=p.model,
        fractions=p.fractions,
        synonyms=p.synonyms,
    )
