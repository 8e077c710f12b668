# Table III (paper VI-C): MusicMagus (difftone.engine.musicmagus) against Diff-TONE on
# MusicMagus' own pairs (musicmagus.pairs), on the same sources (same prompts and seeds),
# scored by the same metrics and judges as Table II.

MM = config["musicmagus"]
MM_PAIRS = [tuple(p) for p in MM["pairs"]]
MM_CODES = sorted({c for p in MM_PAIRS for c in p})
MM_SOURCES = sorted({s for s, _ in MM_PAIRS})


def get_musicmagus_model():
    """The backbone spec of MusicMagus: musicmagus.model, or the workflow's model."""
    return get_model_spec() if MM["model"] is None else str(MM["model"])


def musicmagus_seconds():
    n = sources_count() // max(len(INSTRUMENTS), 1) * len(MM_PAIRS)
    return denoise_seconds(3 * n, steps=MM["steps"] or config["model"]["steps"]) + 120


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
        model=get_model_input(),
        sources=expand("results/sources/{instrument}", instrument=MM_SOURCES),
        captions=expand("results/captions/{instrument}.txt", instrument=MM_CODES),
    output:
        swaps=[f"results/edits/musicmagus/{s}_to_{t}/swaps.csv" for s, t in MM_PAIRS],
        sources=expand("results/edits/musicmagus/sources/{instrument}/items.csv", instrument=MM_SOURCES),
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
        model=get_musicmagus_model(),
        sources_model=get_model_spec(),
        settings={k: MM[k] for k in ("step_size", "constraint_steps", "layers", "direction_scale", "n_captions",
                                     "caption_words")},
        steps=MM["steps"],
        guidance_scale=MM["guidance_scale"],
        negative_prompt=MM["negative_prompt"],
        max_sources=MM["sources_per_pair"],
        synonyms=config["swap"]["synonyms"],
        dtype=config["model"]["dtype"],
        device=config["device"],
    script:
        "../scripts/edit_musicmagus.py"


rule score_musicmagus:
    input:
        swaps=[f"results/edits/musicmagus/{s}_to_{t}/swaps.csv" for s, t in MM_PAIRS],
        sources=expand("results/edits/musicmagus/sources/{instrument}/items.csv", instrument=MM_SOURCES),
        reference="results/metrics/reference_clap.npz",
        teacher="results/classifiers/teacher/model.safetensors",
    output:
        per_item="results/metrics/musicmagus/items.csv",
        pairs="results/metrics/musicmagus/pairs.csv",
    log:
        "logs/metrics/musicmagus.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=musicmagus_seconds() / 4, mem_mb=6000),
    params:
        pairs=[list(p) for p in MM_PAIRS],
        sources=MM_SOURCES,
        instruments=INSTRUMENTS,
        clap=config["metrics"]["clap"],
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        success=config["metrics"]["success"],
        device=config["device"],
    script:
        "../scripts/score_musicmagus.py"


rule table3_musicmagus:
    input:
        per_item=["results/metrics/musicmagus/items.csv", "results/metrics/difftone/items.csv"],
        pairs=["results/metrics/musicmagus/pairs.csv", "results/metrics/difftone/pairs.csv"],
    output:
        table="results/tables/table3_musicmagus.csv",
        markdown="results/tables/table3_musicmagus.md",
    log:
        "logs/metrics/table3_musicmagus.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    params:
        methods=["musicmagus", "difftone"],
        pairs=[list(p) for p in MM_PAIRS],
        bootstrap=config["metrics"]["bootstrap"],
    script:
        "../scripts/table3_musicmagus.py"
