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
    group:
        "generate"
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
    script:
        "../scripts/generate_sources.py"
