"""Snakemake wrapper: Table I and the confusion matrices (difftone.classifiers.write_table1)."""

from pathlib import Path

from difftone.classifiers import write_table1
from difftone.classifiers.judge import load_judge
from difftone.stage import rule_logging

with rule_logging(snakemake):
    i, p = snakemake.input, snakemake.params
    judge = load_judge(
        p.judge, i.judge[0] if i.judge else None, clap=p.clap, instruments=p.instruments, device=p.device
    )
    write_table1(
        Path(i.teacher).parent,
        Path(i.distilled).parent,
        Path(i.nondistilled).parent,
        i.mert,
        i.latents,
        snakemake.output.table,
        Path(snakemake.output.figures[0]).parent,
        generated_csv=i.generated,
        model_spec=p.model,
        n_boot=p.n_boot,
        seed=p.seed,
        device=p.device,
        judge=judge,
        index_csv=i.index,
        window=p.window,
    )
