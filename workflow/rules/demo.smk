# Demo model (the `demo` model family, difftone.models.demo): Stable Audio Open's
# classes, small, on a log-mel latent, trained from the embedded dataset so that the
# embedded default's generations follow the prompt's instrument word. Model jobs
# load it as `demo:results/demo/model` (get_model_spec(), get_model_input()).


rule train_demo_model:
    input:
        "results/data/index.csv",
        duets="results/data/duets",
    output:
        model=directory(DEMO_CHECKPOINT),
        losses="results/demo/loss.csv",
        figure=report(
            "results/demo/loss.png",
            caption="../report/demo_loss.rst",
            category="Demo generator",
        ),
    log:
        "logs/demo/train_demo_model.log",
    benchmark:
        "benchmarks/demo/train_demo_model.tsv"
    priority: 50  # the head of the longest chain (latents and teacher, student, sources, edits): start it first
    conda:
        "../../envs/difftone.yaml"
    threads: 2  # scheduling only: torch uses demo.torch_threads whatever the cores
    resources:
        **gpu_resources(seconds=demo_train_seconds(), mem_mb=4000, cpus_per_gpu=4),
    params:
        instruments=config["instruments"],
        clip_seconds=config["data"]["clip_seconds"],
        settings=config["demo"],
        device=config["device"],
    script:
        "../scripts/train_demo_model.py"
