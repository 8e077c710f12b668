# Report (paper Fig. 2 and the results page): renders files only, loads no model.
# Figure 2's mel spectrograms from the audio of rule edit_swap_steps (edits.smk); then a
# self-contained HTML page of Tables I-II, the per-pair table, the sweep, the figures
# and an audio gallery.


rule plot_swap_steps:
    input:
        audio="results/report/audio/swap_steps",
    output:
        figure=report(
            "results/figures/swap_steps.png",
            caption="../report/swap_steps.rst",
            category="Report",
        ),
    log:
        "logs/report/plot_swap_steps.log",
    priority: 20  # Figure 2 before the end: the report waits for it
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    script:
        "../scripts/plot_swap_steps.py"


rule build_report:
    input:
        **get_report_extras(),
        **get_report_listening(),
        table1="results/tables/table1_classifiers.csv",
        confusion=expand(
            "results/classifiers/figures/confusion_{classifier}.png",
            classifier=CLASSIFIER_NAMES,
        ),
        table2="results/tables/table2_strategies.csv",
        per_pair="results/tables/per_pair.csv",
        swap_figure="results/figures/swap_steps.png",
        swap_audio="results/report/audio/swap_steps",
        sources=get_example_sources(),
        swaps=get_example_swaps(),
        judged=expand("results/metrics/{strategy}/items.csv", strategy=STRATEGIES),
    output:
        html="results/report/index.html",
        assets=directory("results/report/assets"),
    log:
        "logs/report/build_report.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    params:
        examples=[list(pair) for pair in GALLERY_PAIRS],
        strategies=list(STRATEGIES.values()),
        model=get_model_spec(),
        config=config,
    script:
        "../scripts/build_report.py"
