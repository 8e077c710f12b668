# Classifiers (paper IV-B): teacher on MERT features, student distilled from it on
# SAO latents, a head on the frozen student (the distilled classifier the engine
# runs on x0_hat), the non-distilled baseline, and Table I.
# Each rule's params hold only the keys it depends on, so changing e.g.
# classifiers.student_head.epochs retrains only the head (and rewrites Table I).


rule train_teacher:
    input:
        "results/features/teacher/index.csv",
        unpack(get_teacher_roundtrip_input),
    output:
        weights="results/classifiers/teacher/model.safetensors",
        config="results/classifiers/teacher/config.json",
        history="results/classifiers/teacher/history.csv",
    log:
        "logs/classifiers/train_teacher.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=classifier_train_seconds("teacher")),
    params:
        instruments=config["instruments"],
        mert=get_teacher_features(),
        clip_seconds=config["data"]["clip_seconds"],
        arch={
            k: config["classifiers"][k]
            for k in ("frames", "feature_dim", "head_hidden", "lstm_size", "dropout")
        },
        stage=config["classifiers"]["teacher"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_teacher.py"


rule distill_student:
    input:
        teacher="results/classifiers/teacher/model.safetensors",
        mert="results/features/teacher/index.csv",
        latents="results/features/sao_latents/index.csv",
    output:
        weights="results/classifiers/student/model.safetensors",
        config="results/classifiers/student/config.json",
        history="results/classifiers/student/history.csv",
    log:
        "logs/classifiers/distill_student.log",
    priority: 40  # the chain from the demo model to the sources
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=classifier_train_seconds("distill")),
    params:
        arch={
            k: config["classifiers"][k]
            for k in ("frames", "feature_dim", "student_channels")
        },
        stage=config["classifiers"]["distill"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/distill_student.py"


rule train_student_head:
    input:
        student="results/classifiers/student/model.safetensors",
        latents="results/features/sao_latents/index.csv",
    output:
        weights="results/classifiers/distilled/model.safetensors",
        config="results/classifiers/distilled/config.json",
        history="results/classifiers/distilled/history.csv",
    log:
        "logs/classifiers/train_student_head.log",
    priority: 40  # the chain from the demo model to the sources
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=classifier_train_seconds("student_head")),
    params:
        arch={
            k: config["classifiers"][k]
            for k in ("head_hidden", "lstm_size", "dropout")
        },
        stage=config["classifiers"]["student_head"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_student_head.py"


rule train_baseline:
    input:
        "results/features/sao_latents/index.csv",
    output:
        weights="results/classifiers/non-distilled/model.safetensors",
        config="results/classifiers/non-distilled/config.json",
        history="results/classifiers/non-distilled/history.csv",
    log:
        "logs/classifiers/train_baseline.log",
    priority: -10  # needed by later stages only: after the teacher, which the student waits for
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=classifier_train_seconds("baseline")),
    params:
        instruments=config["instruments"],
        arch={
            k: config["classifiers"][k]
            for k in (
                "frames",
                "feature_dim",
                "head_hidden",
                "lstm_size",
                "dropout",
                "student_channels",
            )
        },
        stage=config["classifiers"]["baseline"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_baseline.py"


rule train_judge:
    input:
        "results/data/index.csv",
    output:
        JUDGE_FILE,
    log:
        "logs/classifiers/train_judge.log",
    priority: 10  # after the teacher and student (the sources wait for them), before Table V's edit_duets needs it
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=dataset_clips() * 0.05, mem_mb=3000),
    params:
        instruments=INSTRUMENTS,
        judge=config["judge"],
        seed=config["seed"],
    script:
        "../scripts/train_judge.py"


rule table1_classifiers:
    input:
        judge=get_judge_input(),
        index="results/data/index.csv",
        teacher="results/classifiers/teacher/model.safetensors",
        distilled="results/classifiers/distilled/model.safetensors",
        nondistilled="results/classifiers/non-distilled/model.safetensors",
        mert="results/features/teacher/index.csv",
        latents="results/features/sao_latents/index.csv",
        generated="results/sources/generated_set.csv",
        model=get_model_input(),
        mert_model=FETCH.inputs("mert"),
        judge_models=get_judge_models(),
    output:
        table=report(
            "results/tables/table1_classifiers.csv",
            caption="../report/table1.rst",
            category="Classifiers",
        ),
        figures=report(
            expand(
                "results/classifiers/figures/confusion_{classifier}.png",
                classifier=CLASSIFIER_NAMES,
            ),
            caption="../report/confusion.rst",
            category="Classifiers",
        ),
    log:
        "logs/classifiers/table1_classifiers.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=60, mem_mb=4000),
    params:
        n_boot=config["metrics"]["bootstrap"]["n_boot"],
        seed=config["metrics"]["bootstrap"]["seed"],
        model=get_model_spec(),
        judge=get_judge(),
        instruments=INSTRUMENTS,
        clap=get_clap(),
        device=config["device"],
        window=config["classifiers"]["window"],
    script:
        "../scripts/table1_classifiers.py"
