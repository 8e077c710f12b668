# Edits (paper VI-B): one job per swap strategy and group of source instruments
# (edits.instruments_per_job: 1 on a cluster, all on 2 CPU cores) edits those
# instruments' test sources (results/sources/split.csv; the sweep edits the
# tuning ones) into every other instrument, resuming the cached trajectories and
# batching the targets that swap at the same step; probe strategies read the
# distilled classifier. gather_edits puts a strategy's jobs
# into results/edits/<strategy>/<source>_to_<target>/ and sums their nfe.json.


rule edit_pairs:
    input:
        model=get_model_input(),
        sources=edit_job_sources,
        split=SOURCE_SPLIT,
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        directory("results/edit_jobs/{strategy}/{edit_job}"),
    log:
        "logs/edits/{strategy}/{edit_job}.log",
    benchmark:
        "benchmarks/edits/{strategy}/{edit_job}.tsv"
    priority: 20  # Table II's chain before the smaller stages (Tables III-V) that fill the gaps
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=edit_seconds()),
    params:
        strategy=lambda wildcards: STRATEGIES[wildcards.strategy],
        source_instruments=lambda wildcards: EDIT_JOBS[wildcards.edit_job],
        options=strategy_options,
        window=probe_window,
        instruments=INSTRUMENTS,
        model=get_model_settings(),
        synonyms=config["swap"]["synonyms"],
        seed=config["seed"],
        batch_size=config["edits"]["batch_size"],
        sources_per_batch=config["edits"]["sources_per_batch"],
    script:
        "../scripts/edit_pairs.py"


# Figure 2's edits (paper Fig. 2): one source per example pair (report.examples) edited
# at the swap steps of report.swap_steps; the report stage draws and links them.
rule edit_swap_steps:
    input:
        model=get_model_input(),
        sources=get_example_sources(),
    output:
        audio=directory("results/report/audio/swap_steps"),
    log:
        "logs/edits/edit_swap_steps.log",
    benchmark:
        "benchmarks/edits/edit_swap_steps.tsv"
    priority: 20  # Figure 2 before the end: the report waits for it
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=swap_steps_seconds()),
    params:
        examples=[list(pair) for pair in REPORT_EXAMPLES],
        fractions=config["report"]["swap_steps"],
        model=get_model_settings(),
        synonyms=config["swap"]["synonyms"],
    script:
        "../scripts/edit_swap_steps.py"


rule gather_edits:
    input:
        expand(
            "results/edit_jobs/{{strategy}}/{edit_job}",
            edit_job=EDIT_JOBS,
        ),
    output:
        swaps=get_pair_outputs("results/edits/{strategy}/{pair}/swaps.csv"),
        nfe="results/edits/{strategy}/nfe.json",
    log:
        "logs/edits/{strategy}/gather_edits.log",
    priority: 20  # Table II's chain before the smaller stages (Tables III-V) that fill the gaps
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=60, mem_mb=1000),
    params:
        jobs=list(EDIT_JOBS.values()),
    script:
        "../scripts/gather_edits.py"
