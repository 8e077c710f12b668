# Edits (paper VI-B): one job per swap strategy edits every source into every
# other instrument, resuming the cached trajectories and batching targets; probe
# strategies read the distilled classifier.


rule edit_pairs:
    input:
        model=get_model_input(),
        sources=get_sources(),
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        swaps=get_pair_outputs("results/edits/{strategy}/{pair}/swaps.csv"),
        nfe="results/edits/{strategy}/nfe.json",
    log:
        "logs/edits/{strategy}.log",
    benchmark:
        "benchmarks/edits/{strategy}.tsv"
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=edit_seconds()),
    params:
        strategy=lambda wildcards: STRATEGIES[wildcards.strategy],
        options=strategy_options,
        instruments=INSTRUMENTS,
        model=get_model_spec(),
        synonyms=config["swap"]["synonyms"],
        seed=config["seed"],
        dtype=config["model"]["dtype"],
        device=config["device"],
    script:
        "../scripts/edit_pairs.py"
