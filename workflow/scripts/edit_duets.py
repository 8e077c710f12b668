"""Snakemake wrapper: Table V, duets edited per word (difftone.experiment.multi.run_multi)."""

from pathlib import Path

from difftone.classifiers.judge import load_judge
from difftone.experiment.multi import run_multi
from difftone.stage import rule_logging

with rule_logging(snakemake):
    p, i = snakemake.params, snakemake.input
    judge = load_judge(
        p.judge, i.judge[0] if i.judge else None, clap=p.clap, instruments=p.instruments, device=p.model["device"]
    )
    run_multi(
        p.edits,
        snakemake.output.folder,
        snakemake.output.table,
        model=p.model,
        classifier=Path(snakemake.input.classifier).parent,
        teacher=Path(snakemake.input.teacher).parent,
        prompt=p.prompt,
        seeds=p.seeds,
        strategies=p.strategies,
        options=p.options,
        steps=p.steps,
        duration=p.duration,
        guidance_scale=p.guidance_scale,
        chroma=p.chroma,
        bootstrap=p.bootstrap,
        top_k=p.top_k,
        judge=judge,
        window=p.window,
        synonyms=p.synonyms,
        seed=p.seed,
    )
