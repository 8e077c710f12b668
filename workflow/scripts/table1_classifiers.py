"""Snakemake wrapper: Table I and the confusion matrices (difftone.classifiers.write_table1)."""

from pathlib import Path

from difftone.classifiers import write_table1
from difftone.stage import rule_logging

with rule_logging(snakemake):
    i = snakemake.input
    write_table1(Path(i.teacher).parent, Path(i.distilled).parent, Path(i.nondistilled).parent, i.mert, i.latents,
                 snakemake.output.table, Path(snakemake.output.figures[0]).parent,
                 generated_csv=i.generated, model_spec=snakemake.params.model,
                 n_boot=snakemake.params.n_boot, seed=snakemake.params.seed, device=snakemake.config["device"])
