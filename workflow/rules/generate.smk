# Source generations (paper V-B): every prompt x seed of an instrument, with the
# distilled classifier reading x0_hat at every step, and the trajectory cache
# each edit resumes from. One job per group of instruments (generation.instruments_per_job:
# 1 on a cluster, all on 2 CPU cores) loads the model once and writes
# results/source_jobs/<job>/<code>/; link_sources hard-links each instrument's folder
# into results/sources/<code>/, where every later stage reads it.


rule generate_sources:
    input:
        model=get_model_input(),
        prompts=lambda wildcards: expand(
            "results/prompts/{instrument}.txt",
            instrument=SOURCE_JOBS[wildcards.source_job],
        ),
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        directory("results/source_jobs/{source_job}"),
    log:
        "logs/sources/{source_job}.log",
    benchmark:
        "benchmarks/sources/{source_job}.tsv"
    priority: 40  # the chain from the demo model to the sources
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=denoise_seconds(
                sources_count() * config["generation"]["instruments_per_job"]
            )
        ),
    params:
        instruments=lambda wildcards: SOURCE_JOBS[wildcards.source_job],
        model=get_model_settings(),
        seeds=config["generation"]["seeds"],
        batch_size=config["generation"]["batch_size"],
        steps=config["model"]["steps"],
        duration=config["model"]["duration"],
        guidance_scale=config["model"]["guidance_scale"],
        window=config["classifiers"]["window"],
        cache_dtype=config["generation"]["cache_dtype"],
    script:
        "../scripts/generate_sources.py"


rule link_sources:
    input:
        lambda wildcards: f"results/source_jobs/{SOURCE_JOB_OF[wildcards.instrument]}",
    output:
        directory("results/sources/{instrument}"),
    log:
        "logs/sources/link_{instrument}.log",
    priority: 40
    localrule: True  # hard links on the submitting host, no SLURM job
    conda:
        "../../envs/difftone.yaml"
    params:
        folder=lambda wildcards: f"results/source_jobs/{SOURCE_JOB_OF[wildcards.instrument]}/{wildcards.instrument}",
    shell:
        # a shell rule runs in a thread; a run: rule would re-read the workflow in a subprocess (~5 s a job)
        # "$DIFFTONE_PYTHON": the interpreter running Snakemake (common.smk: shell_python())
        '"$DIFFTONE_PYTHON" -m difftone.files link {params.folder:q} {output:q} --log {log:q}'


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
