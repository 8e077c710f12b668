# The swap-step sweep (the paper's Figure 2 made quantitative): fixed:K at
# every step of sweep.steps, edited and scored (no KAD) by the edit and metrics
# stages' functions on the tuning sources (results/sources/split.csv), in one
# job; then pooled by step and pair, with the figure.


rule sweep_swap_steps:
    input:
        model=get_model_input(),
        sources=get_sources(),
        split=SOURCE_SPLIT,
        teacher="results/classifiers/teacher/model.safetensors",
        mert_model=FETCH.inputs("mert"),
    output:
        edits=directory("results/sweep"),
        table=report(SWEEP_TABLE, caption="../report/sweep_table.rst", category="Sweep"),
        markdown="results/tables/sweep.md",
        reference=report(
            "results/tables/chroma_reference.csv",
            caption="../report/chroma_reference.rst",
            category="Sweep",
        ),
        figure=report(SWEEP_FIGURE, caption="../report/sweep.rst", category="Sweep"),
    log:
        "logs/sweep/sweep_swap_steps.log",
    benchmark:
        "benchmarks/sweep/sweep_swap_steps.tsv"
    priority: 30  # the longest single job: start it as soon as the sources exist
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=sweep_seconds()),
    params:
        grid=config["sweep"]["steps"],
        sources_per_instrument=config["sweep"]["sources_per_instrument"],
        instruments=INSTRUMENTS,
        model=get_model_settings(),
        steps=config["model"]["steps"],
        synonyms=config["swap"]["synonyms"],
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        success=config["metrics"]["success"],
        window=config["classifiers"]["window"],
        seed=config["seed"],
    script:
        "../scripts/sweep_swap_steps.py"
