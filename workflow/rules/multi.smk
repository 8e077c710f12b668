# Table V (beyond the paper): both instruments of a duet edited at once. One job
# generates the duet sources (multi.prompt x multi.seeds, with the distilled classifier's
# trace), edits them into their target duets with each strategy applied per word (the words
# swap one after another in one resumed run), scores chroma and the judges' multi-label
# reading (target in the teacher's and the independent judge's top multi.top_k), and writes the table.


rule edit_duets:
    input:
        model=get_model_input(),
        classifier="results/classifiers/distilled/model.safetensors",
        teacher="results/classifiers/teacher/model.safetensors",
        judge=get_judge_input(),
        models=FETCH.inputs("mert", "clap"),
    output:
        folder=directory("results/multi"),
        table=report(MULTI_TABLE, caption="../report/table5.rst", category="Table V"),
        markdown="results/tables/table5_multi.md",
    log:
        "logs/multi/edit_duets.log",
    benchmark:
        "benchmarks/multi/edit_duets.tsv"
    priority: 20  # as long as an edit job: beside Table II's chain, not left for the end
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=multi_seconds()),
    params:
        edits=MULTI_EDITS,
        prompt=lambda wildcards: config["multi"]["prompt"],  # a function: its {first}/{second} are not wildcards
        seeds=config["multi"]["seeds"],
        strategies=config["multi"]["strategies"],
        options=multi_strategy_options(),
        top_k=config["multi"]["top_k"],
        model=get_model_settings(),
        steps=config["model"]["steps"],
        duration=config["model"]["duration"],
        guidance_scale=config["model"]["guidance_scale"],
        synonyms=config["swap"]["synonyms"],
        judge=config["judge"],
        instruments=INSTRUMENTS,
        clap=get_clap(),
        window=config["classifiers"]["window"],
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/edit_duets.py"
