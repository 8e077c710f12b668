# Demo model (the `demo` model family, difftone.models.demo): Stable Audio Open's
# classes, small, on a log-mel latent, trained from the embedded dataset so that the
# embedded default's generations follow the prompt's instrument word. Model jobs
# load it as `demo:results/demo/model` (get_model_spec(), get_model_input()). Its
# autoencoder is parameter-free but for the training clips' log-mel statistics:
# fit_demo_autoencoder writes it first (seconds), so the latents cache and the
# classifiers run beside the DiT's training instead of after it. The training fits
# the same statistics from the same clips itself (it need not wait the 9 s for that
# rule; tests/test_demo.py checks that both give the same autoencoder).


rule fit_demo_autoencoder:
    input:
        index="results/data/index.csv",
        duets="results/data/duets",
    output:
        autoencoder=directory(DEMO_AUTOENCODER),
    log:
        "logs/demo/fit_demo_autoencoder.log",
    priority: 50  # the latents cache and the classifiers wait for it, not for the training
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=60),
    params:
        instruments=config["instruments"],
        clip_seconds=config["data"]["clip_seconds"],
        settings={  # the clips it reads and the latents' scaling
            k: config["demo"][k]
            for k in (
                "clips_per_instrument",
                "seed",
                "timbre_coefficients",
                "timbre_std",
                "note_std",
            )
        },
    script:
        "../scripts/fit_demo_autoencoder.py"


rule train_demo_model:
    input:
        index="results/data/index.csv",
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
    threads: config["demo"]["torch_threads"]  # torch's threads, fixed by the config (not the machine's cores)
    resources:
        **gpu_resources(seconds=demo_train_seconds(), mem_mb=4000, cpus_per_gpu=4),
    params:
        instruments=config["instruments"],
        clip_seconds=config["data"]["clip_seconds"],
        settings=config["demo"],
        device=config["device"],
    script:
        "../scripts/train_demo_model.py"
