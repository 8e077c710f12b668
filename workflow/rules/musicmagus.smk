# Table III (paper VI-C): MusicMagus (difftone.engine.musicmagus) against Diff-TONE on
# MusicMagus' own pairs (musicmagus.pairs), on the same sources (same prompts and seeds),
# scored by the same metrics and judges as Table II.


rule make_captions:
    output:
        captions="results/captions/{instrument}.txt",
        sidecar="results/captions/{instrument}.json",
    log:
        "logs/captions/{instrument}.log",
    localrule: True
    conda:
        "../../envs/difftone.yaml"
    resources:
        openai_api=0 if MM["caption_source"] == "offline" else 1,
    params:
        n=MM["n_captions"],
        source=MM["caption_source"],
        seed=MM["caption_seed"],
        options={
            "model": config["prompts"]["model"],
            "batch_size": config["prompts"]["batch_size"],
            "temperature": config["prompts"]["temperature"],
            "max_retries": config["prompts"]["max_retries"],
            "backoff_s": config["prompts"]["backoff_s"],
            "cache_dir": MM["captions_cache_dir"],
        },
    script:
        "../scripts/make_captions.py"


rule edit_musicmagus:
    input:
        model=get_musicmagus_model_input(),
        sources=expand("results/sources/{instrument}", instrument=MM_SOURCES),
        split=SOURCE_SPLIT,
        captions=expand("results/captions/{instrument}.txt", instrument=MM_CODES),
    output:
        swaps=[f"results/edits/musicmagus/{s}_to_{t}/swaps.csv" for s, t in MM_PAIRS],
        sources=expand(
            "results/edits/musicmagus/sources/{instrument}/items.csv",
            instrument=MM_SOURCES,
        ),
        nfe="results/edits/musicmagus/nfe.json",
    log:
        "logs/edits/musicmagus.log",
    benchmark:
        "benchmarks/edits/musicmagus.tsv"
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=musicmagus_seconds()),
    params:
        pairs=[list(p) for p in MM_PAIRS],
        sources=MM_SOURCES,
        model=get_musicmagus_model_settings(),
        sources_model=get_model_spec(),
        settings={
            k: MM[k]
            for k in (
                "step_size",
                "constraint_steps",
                "layers",
                "direction_scale",
                "n_captions",
                "caption_words",
            )
        },
        steps=MM["steps"],
        guidance_scale=MM["guidance_scale"],
        negative_prompt=MM["negative_prompt"],
        max_sources=MM["sources_per_pair"],
        synonyms=config["swap"]["synonyms"],
    script:
        "../scripts/edit_musicmagus.py"


rule score_musicmagus:
    input:
        swaps=[f"results/edits/musicmagus/{s}_to_{t}/swaps.csv" for s, t in MM_PAIRS],
        sources=expand(
            "results/edits/musicmagus/sources/{instrument}/items.csv",
            instrument=MM_SOURCES,
        ),
        reference="results/metrics/reference_clap.npz",
        teacher="results/classifiers/teacher/model.safetensors",
        judge=get_judge_input(),
        models=FETCH.inputs("mert", "clap"),
    output:
        per_item="results/metrics/musicmagus/items.csv",
        pairs="results/metrics/musicmagus/pairs.csv",
        skipped="results/metrics/musicmagus/skipped.csv",
        embeddings="results/metrics/musicmagus/clap.npz",
    log:
        "logs/metrics/musicmagus.log",
    benchmark:
        "benchmarks/metrics/musicmagus.tsv"
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(
                3 * musicmagus_edits() * config["model"]["duration"]
            ),
            mem_mb=6000,
        ),
    params:
        pairs=[list(p) for p in MM_PAIRS],
        sources=MM_SOURCES,
        instruments=INSTRUMENTS,
        clap=get_clap(),
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        success=config["metrics"]["success"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
        judge=config["judge"],
        window=config["classifiers"]["window"],
        device=config["device"],
    script:
        "../scripts/score_musicmagus.py"


rule table3_musicmagus:
    input:
        per_item=expand("results/metrics/{method}/items.csv", method=MM_METHODS),
        skipped=expand("results/metrics/{method}/skipped.csv", method=MM_METHODS),
        embeddings=expand("results/metrics/{method}/clap.npz", method=MM_METHODS),
        nfe=expand("results/edits/{method}/nfe.json", method=MM_METHODS),
        split=SOURCE_SPLIT,
        reference="results/metrics/reference_clap.npz",
    output:
        table="results/tables/table3_musicmagus.csv",
        markdown="results/tables/table3_musicmagus.md",
        paired="results/tables/table3_paired.csv",
    log:
        "logs/metrics/table3_musicmagus.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    params:
        methods=MM_METHODS,
        pairs=[list(p) for p in MM_PAIRS],
        bootstrap=config["metrics"]["bootstrap"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
    script:
        "../scripts/table3_musicmagus.py"
