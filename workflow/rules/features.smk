# Features: the classifiers' inputs, computed once per clip and cached under
# results/features/<kind>/clips/ (the manifest index.csv is the stage's output).
#   extract_teacher_features: the teacher's input [layers, frames, dim] (fp16): MERT hidden
#                             states, or log-mel (teacher_features.kind)
#   extract_roundtrip_teacher_features: the same features of the train and val clips after the
#                             demo autoencoder's encode -> decode (teacher_features.roundtrip)
#   encode_sao_latents:    SAO VAE latents [channels, frames], the student's input


rule extract_teacher_features:
    input:
        "results/data/index.csv",
        FETCH.inputs("mert"),
    output:
        "results/features/teacher/index.csv",
    log:
        "logs/features/extract_teacher_features.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(dataset_clips() * config["data"]["clip_seconds"]),
        ),
    params:
        kind=config["teacher_features"]["kind"],
        spec=get_teacher_features()["spec"],
        revision=config["teacher_features"]["revision"],
        sample_rate=config["teacher_features"]["sample_rate"],
        layers=config["teacher_features"]["layers"],
        batch_size=config["teacher_features"]["batch_size"],
        device=config["device"],
    script:
        "../scripts/extract_teacher_features.py"


rule extract_roundtrip_teacher_features:
    input:
        index="results/data/index.csv",
        autoencoder=DEMO_AUTOENCODER,
    output:
        TEACHER_ROUNDTRIP_MANIFEST,
    log:
        "logs/features/extract_roundtrip_teacher_features.log",
    priority: 40  # the teacher, student and head, then the sources, wait for it
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(dataset_clips() * config["data"]["clip_seconds"])
            + dataset_clips() * 0.5,
            mem_mb=3000,
        ),
    params:
        roundtrip=config["teacher_features"]["roundtrip"],
        kind=config["teacher_features"]["kind"],
        spec=get_teacher_features()["spec"],
        revision=config["teacher_features"]["revision"],
        sample_rate=config["teacher_features"]["sample_rate"],
        layers=config["teacher_features"]["layers"],
        batch_size=config["teacher_features"]["batch_size"],
        device=config["device"],
    script:
        "../scripts/extract_roundtrip_teacher_features.py"


rule encode_sao_latents:
    input:
        index="results/data/index.csv",
        model=get_autoencoder_input(),
    output:
        "results/features/sao_latents/index.csv",
    log:
        "logs/features/encode_sao_latents.log",
    priority: 40  # the chain from the demo autoencoder to the sources
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(dataset_clips() * config["data"]["clip_seconds"]),
        ),
    params:
        spec=get_autoencoder_spec(),
        dtype=config["model"]["dtype"],
        batch_size=config["classifiers"]["latent_batch_size"],
        device=config["device"],
    script:
        "../scripts/encode_sao_latents.py"
