# Metrics (paper V-E) per strategy: chroma distance to the source, the teacher's
# and the independent judge's top-1 on the edit, KAD of CLAP embeddings against the
# target's training clips; the tuning/test split of the sources; then Table II, the
# per-pair table and the paired comparisons on the test sources.


rule split_sources:
    input:
        get_sources(),
    output:
        SOURCE_SPLIT,
    log:
        "logs/sources/split_sources.log",
    priority: 40  # the sweep and every edit job wait for it (a priority does not pass to a job's inputs)
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=5, mem_mb=1000),
    params:
        instruments=INSTRUMENTS,
        tuning_per_instrument=config["evaluation"]["tuning_per_instrument"],
        seed=config["evaluation"]["split_seed"],
    script:
        "../scripts/split_sources.py"


rule embed_references:
    input:
        "results/data/index.csv",
        FETCH.inputs("clap"),
    output:
        "results/metrics/reference_clap.npz",
    log:
        "logs/metrics/embed_references.log",
    priority: -10  # needed by later stages only: after the teacher, which the student waits for
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(dataset_clips() * config["data"]["clip_seconds"]),
            mem_mb=6000,
        ),
    params:
        instruments=INSTRUMENTS,
        clap=get_clap(),
        device=config["device"],
    script:
        "../scripts/embed_references.py"


rule score_edits:
    input:
        swaps=get_pair_outputs("results/edits/{strategy}/{pair}/swaps.csv"),
        sources=get_sources(),
        reference="results/metrics/reference_clap.npz",
        teacher="results/classifiers/teacher/model.safetensors",
        judge=get_judge_input(),
        models=FETCH.inputs("mert", "clap"),
        judge_models=get_judge_models(),
    output:
        per_item="results/metrics/{strategy}/items.csv",
        pairs="results/metrics/{strategy}/pairs.csv",
        skipped="results/metrics/{strategy}/skipped.csv",
        embeddings="results/metrics/{strategy}/clap.npz",
    log:
        "logs/metrics/{strategy}.log",
    priority: 20  # Table II's chain before the smaller stages (Tables III-V) that fill the gaps
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=strategy_edit_seconds() / 4, mem_mb=6000),
    params:
        strategy=lambda wildcards: STRATEGIES[wildcards.strategy],
        instruments=INSTRUMENTS,
        clap=get_clap(),
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        success=config["metrics"]["success"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
        judge=get_judge(),
        window=config["classifiers"]["window"],
        device=config["device"],
    script:
        "../scripts/score_edits.py"


rule table2_strategies:
    input:
        per_item=expand("results/metrics/{strategy}/items.csv", strategy=STRATEGIES),
        skipped=expand("results/metrics/{strategy}/skipped.csv", strategy=STRATEGIES),
        embeddings=expand("results/metrics/{strategy}/clap.npz", strategy=STRATEGIES),
        nfe=expand("results/edits/{strategy}/nfe.json", strategy=STRATEGIES),
        split=SOURCE_SPLIT,
        reference="results/metrics/reference_clap.npz",
    output:
        table2=report(
            "results/tables/table2_strategies.csv",
            caption="../report/table2.rst",
            category="Metrics",
        ),
        per_pair=report(
            "results/tables/per_pair.csv",
            caption="../report/per_pair.rst",
            category="Metrics",
        ),
        paired=report(
            "results/tables/paired.csv",
            caption="../report/paired.rst",
            category="Metrics",
        ),
    log:
        "logs/metrics/table2_strategies.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    params:
        strategies=list(STRATEGIES.values()),
        bootstrap=config["metrics"]["bootstrap"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
    script:
        "../scripts/table2_strategies.py"
