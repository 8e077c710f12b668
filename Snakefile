# difftone: Diff-TONE instrument editing, end to end.
#   snakemake --cores all                          embedded default (offline, CPU)
#   snakemake --configfile configs/paper.yaml ...  paper scale (real IRMAS, SAO, MERT, CLAP)
# The stages, in order, are one file each under workflow/rules/.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
