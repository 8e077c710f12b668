from difftone.experiment.sweep import run_sweep
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p = snakemake.params
    run_sweep(
        p.grid,
        dict(zip(p.instruments, snakemake.input.sources)),
        p.instruments,
        snakemake.input.teacher,
        snakemake.output.edits,
        snakemake.output.table,
        snakemake.output.reference,
        snakemake.output.figure,
        split_csv=snakemake.input.split,
        model=p.model,
        sources_per_instrument=p.sources_per_instrument,
        steps=p.steps,
        chroma=p.chroma,
        bootstrap=p.bootstrap,
        success=p.success,
        window=p.window,
        synonyms=p.synonyms,
        seed=p.seed,
    )
