# difftone: Diff-TONE instrument editing, end to end.
#   snakemake --cores all                          embedded default (offline, CPU)
#   snakemake --configfile configs/paper.yaml ...  paper scale (real IRMAS, SAO, MERT, CLAP)
# The stages, in order, are one file each under workflow/rules/.


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/classifiers.smk"
include: "workflow/rules/prompts.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/edits.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/musicmagus.smk"
include: "workflow/rules/real_audio.smk"
include: "workflow/rules/multi.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
