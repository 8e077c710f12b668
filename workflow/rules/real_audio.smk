# Table IV (beyond the paper): real recordings inverted with edit-friendly DDPM inversion
# on the model's own sampler, edited with the swap strategies of Table II and ZETA's row,
# scored with the metrics of Table II (difftone.experiment.real_audio).


rule invert_recordings:
    input:
        unpack(real_audio_inputs),
        model=get_model_input(),
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        directory("results/real_audio/sources/{inversion}"),
    log:
        "logs/real_audio/invert_{inversion}.log",
    benchmark:
        "benchmarks/real_audio/invert_{inversion}.tsv"
    priority: 40  # needs only the model: beside the source generations
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(seconds=denoise_seconds(real_audio_clips())),
    params:
        folder=config["real_audio"]["folder"],
        instruments=INSTRUMENTS,
        per_instrument=config["real_audio"]["clips_per_instrument"],
        source_guidance=lambda wildcards: REAL_INVERSIONS[wildcards.inversion],
        target_guidance=real_audio_target_guidance(),
        template=lambda wildcards: config["real_audio"]["source_prompt"],
        seed=config["real_audio"]["seed"],
        peak=config["real_audio"]["peak"],
        silence_db=config["real_audio"]["silence_db"],
        max_silent_fraction=config["real_audio"]["max_silent_fraction"],
        steps=config["model"]["steps"],
        model=get_model_settings(),
    script:
        "../scripts/invert_recordings.py"


rule edit_recordings:
    input:
        model=get_model_input(),
        sources=lambda wildcards: f"results/real_audio/sources/{REAL_ROWS[wildcards.row]['inversion']}",
        classifier="results/classifiers/distilled/model.safetensors",
    output:
        swaps=get_pair_outputs("results/real_audio/edits/{row}/{pair}/swaps.csv"),
        nfe="results/real_audio/edits/{row}/nfe.json",
    log:
        "logs/real_audio/edit_{row}.log",
    benchmark:
        "benchmarks/real_audio/edit_{row}.tsv"
    wildcard_constraints:
        row="|".join(re.escape(r) for r in REAL_ROWS),  # the long rows: rule edit_long_recordings
    priority: 20  # Table IV's chain is as long as Table II's: not left for the end
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=denoise_seconds(
                real_audio_clips() * (len(INSTRUMENTS) - 1),
                steps=config["model"]["steps"] / 2,
            )
        ),
    params:
        strategy=lambda wildcards: REAL_ROWS[wildcards.row]["strategy"],
        target_guidance=lambda wildcards: REAL_ROWS[wildcards.row]["target_guidance"],
        options=lambda wildcards: strategy_options_of(
            REAL_ROWS[wildcards.row]["strategy"]
        ),
        instruments=INSTRUMENTS,
        model=get_model_settings(),
        synonyms=config["swap"]["synonyms"],
        seed=config["seed"],
    script:
        "../scripts/edit_recordings.py"


# the long rows: every instrument's first clips joined, edited whole and as one passage (one job for all)
if LONG_ROWS:

    rule edit_long_recordings:
        input:
            unpack(real_audio_inputs),
            model=get_model_input(),
            classifier="results/classifiers/distilled/model.safetensors",
        output:
            sources=[directory(real_row_sources(row)) for row in LONG_ROWS],
            swaps=[
                path
                for row in LONG_ROWS
                for path in get_row_pair_outputs(
                    row, "results/real_audio/edits/{row}/{pair}/swaps.csv"
                )
            ],
            nfe=[f"results/real_audio/edits/{row}/nfe.json" for row in LONG_ROWS],
        log:
            "logs/real_audio/edit_long.log",
        benchmark:
            "benchmarks/real_audio/edit_long.tsv"
        priority: 20  # Table IV's chain is as long as Table II's: not left for the end
        conda:
            "../../envs/difftone.yaml"
        resources:
            # each recording's windows (about one per joined clip, plus one) inverted per row (an upper bound:
            # rows of one source guidance share them) and resumed per row and target
            **gpu_resources(
                seconds=denoise_seconds(long_windows())
                + batched_edit_seconds(long_windows() * (len(INSTRUMENTS) - 1))
            ),
        params:
            folder=config["real_audio"]["folder"],
            instruments=INSTRUMENTS,  # the targets
            sources=LONG_INSTRUMENTS,  # the recordings joined and edited
            rows=LONG_ROWS,
            options=lambda wildcards: {
                slug: strategy_options_of(row["strategy"])
                for slug, row in LONG_ROWS.items()
            },
            # the keys edit_long reads, and only those: another real_audio key reruns no long row
            real_audio={
                k: config["real_audio"][k]
                for k in [
                    "peak",
                    "silence_db",
                    "max_silent_fraction",
                    "max_seconds",
                    "seed",
                    "source_prompt",
                    "passage_fade",
                    "window_overlap",
                    "batch_windows",
                    "window_step_rule",
                    "long",
                ]
            },
            steps=config["model"]["steps"],
            model=get_model_settings(),
            synonyms=config["swap"]["synonyms"],
            seed=config["seed"],
        script:
            "../scripts/edit_long_recordings.py"


rule score_recordings:
    input:
        swaps=lambda wildcards: get_row_pair_outputs(
            wildcards.row, "results/real_audio/edits/{row}/{pair}/swaps.csv"
        ),
        sources=lambda wildcards: real_row_sources(wildcards.row),
        reference="results/metrics/reference_clap.npz",
        teacher="results/classifiers/teacher/model.safetensors",
        judge=get_judge_input(),
        models=FETCH.inputs("mert", "clap"),
    output:
        per_item="results/real_audio/metrics/{row}/items.csv",
        pairs="results/real_audio/metrics/{row}/pairs.csv",
        skipped="results/real_audio/metrics/{row}/skipped.csv",
        embeddings="results/real_audio/metrics/{row}/clap.npz",
    log:
        "logs/real_audio/score_{row}.log",
    priority: 20  # Table IV's chain is as long as Table II's: not left for the end
    conda:
        "../../envs/difftone.yaml"
    resources:
        **gpu_resources(
            seconds=audio_seconds(real_audio_clips() * len(INSTRUMENTS) * 10),
            mem_mb=6000,
        ),
    params:
        strategy=lambda wildcards: TABLE4_ROWS[wildcards.row]["method"],
        instruments=INSTRUMENTS,
        pairs=lambda wildcards: row_pairs(wildcards.row),
        clap=get_clap(),
        chroma=config["metrics"]["chroma"],
        bootstrap=config["metrics"]["bootstrap"],
        success=config["metrics"]["success"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
        judge=config["judge"],
        window=config["classifiers"]["window"],
        device=config["device"],
    script:
        "../scripts/score_recordings.py"


rule table4_real_audio:
    input:
        per_item=expand("results/real_audio/metrics/{row}/items.csv", row=TABLE4_ROWS),
        skipped=expand("results/real_audio/metrics/{row}/skipped.csv", row=TABLE4_ROWS),
        embeddings=expand("results/real_audio/metrics/{row}/clap.npz", row=TABLE4_ROWS),
        nfe=expand("results/real_audio/edits/{row}/nfe.json", row=TABLE4_ROWS),
        sources=[real_row_sources(row) for row in TABLE4_ROWS],  # each row's split.csv
        reference="results/metrics/reference_clap.npz",
    output:
        table="results/tables/table4_real_audio.csv",
        markdown="results/tables/table4_real_audio.md",
    log:
        "logs/real_audio/table4.log",
    priority: 20  # Table IV's chain is as long as Table II's: not left for the end
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=30),
    params:
        rows=TABLE4_ROWS,
        bootstrap=config["metrics"]["bootstrap"],
        kad_bandwidth=config["metrics"]["kad"]["bandwidth"],
    script:
        "../scripts/table4_real_audio.py"
