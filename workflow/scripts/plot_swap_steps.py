from difftone.report import plot_swap_steps
from difftone.stage import rule_logging

with rule_logging(snakemake):
    plot_swap_steps(snakemake.input.audio, snakemake.output.figure)
