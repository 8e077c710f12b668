# Source generations (paper V-B): every prompt x seed of an instrument, with the
# distilled classifier reading x0_hat at every step, and the trajectory cache
# each edit resumes from. One job per instrument loads the model once.


rule generate_sources:
    input:
        model=get_model_input(),
        prompts="results/prompts/{instrument}.txt",
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        directory("results/sources/{instrument}"),
    log:
        "logs/sources/{instrument}.log",
    benchmark:
        "benchmarks/sources/{instrument}.tsv"
    priority: 40  # the chain from the demo model to the sources
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=denoise_seconds(sources_count())),
    params:
        model=get_model_spec(),
        seeds=config["generation"]["seeds"],
        batch_size=config["generation"]["batch_size"],
        steps=config["model"]["steps"],
        duration=config["model"]["duration"],
        guidance_scale=config["model"]["guidance_scale"],
        dtype=config["model"]["dtype"],
        device=config["device"],
        window=config["classifiers"]["window"],
        cache_dtype=config["generation"]["cache_dtype"],
        compile=config["model"]["compile"],
        model_window=config["model"]["window"],
        window_margin=config["model"]["window_margin_frames"],
    script:
        "../scripts/generate_sources.py"


rule generated_set:
    input:
        get_sources(),
    output:
        "results/sources/generated_set.csv",
    log:
        "logs/sources/generated_set.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=10),
    script:
        "../scripts/generated_set.py"
