# Data stage: the clips every later stage reads, listed in results/data/index.csv.
#   data.source: embedded -> render_embedded (General MIDI soundfonts, offline)
#   data.source: irmas    -> download_irmas + extract_irmas, or data.irmas_dir as is
# then scan_clips (validate every clip) and split_clips (stratified, seeded split),
# so that changing data.split_seed reruns only split_clips and what depends on it.


rule render_embedded:
    output:
        directory("results/data/embedded"),
    log:
        "logs/data/render_embedded.log",
    priority: 50  # the head of the chain to the demo training
    conda:
        "../../envs/difftone.yaml"
    threads: 2  # clips rendered in parallel processes (the dataset is the same for any number)
    resources:
        **cpu_resources(
            seconds=0.1
            * len(config["instruments"])
            * (
                config["data"]["clips_per_instrument"]
                + config["data"]["heldout_clips_per_instrument"]
            ),
            mem_mb=2000,
        ),
    params:
        instruments=config["instruments"],
        clips_per_instrument=config["data"]["clips_per_instrument"],
        soundfonts=config["data"]["soundfonts"],
        heldout_soundfont=config["data"]["heldout_soundfont"],
        heldout_clips=config["data"]["heldout_clips_per_instrument"],
        patch_variants=config["data"]["patch_variants"],
        seed=config["data"]["render_seed"],
        sample_rate=config["data"]["sample_rate"],
        clip_seconds=config["data"]["clip_seconds"],
        silence_db=config["data"]["silence_db"],
    script:
        "../scripts/render_embedded.py"


rule download_irmas:
    output:
        "resources/IRMAS-TrainingData.zip",
    log:
        "logs/data/download_irmas.log",
    localrule: True
    conda:
        "../../envs/difftone.yaml"
    params:
        url=config["data"]["irmas_url"],
        md5=config["data"]["irmas_md5"],
    script:
        "../scripts/download_irmas.py"


rule extract_irmas:
    input:
        "resources/IRMAS-TrainingData.zip",
    output:
        directory("resources/IRMAS-TrainingData"),
    log:
        "logs/data/extract_irmas.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=120, mem_mb=1000),
    script:
        "../scripts/extract_irmas.py"


rule scan_clips:
    input:
        get_clip_folder(),
    output:
        clips="results/data/clips.csv",
        rejected="results/data/rejected.csv",
    log:
        "logs/data/scan_clips.log",
    priority: 50  # the head of the chain to the demo training
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=0.02 * 7000, mem_mb=2000),
    params:
        instruments=config["instruments"],
        sample_rate=config["data"]["sample_rate"],
        clip_seconds=config["data"]["clip_seconds"],
        policy=config["data"]["bad_clip_policy"],
        silence_db=config["data"]["silence_db"],
        max_silent_fraction=config["data"]["max_silent_fraction"],
        length_tolerance=config["data"]["length_tolerance"],
    script:
        "../scripts/scan_clips.py"


rule split_clips:
    input:
        clips="results/data/clips.csv",
        # the embedded dataset's render.csv says which clips the held-out soundfont rendered
        rendered=get_clip_folder() if config["data"]["source"] == "embedded" else [],
    output:
        "results/data/index.csv",
    log:
        "logs/data/split_clips.log",
    priority: 50  # the head of the chain to the demo training
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=5, mem_mb=1000),
    params:
        seed=config["data"]["split_seed"],
        val_fraction=config["data"]["val_fraction"],
        test_fraction=config["data"]["test_fraction"],
        by_score=config["data"]["source"] == "embedded",  # clip NNNN of every instrument plays score NNNN
        heldout_soundfont=(
            config["data"]["heldout_soundfont"]
            if config["data"]["source"] == "embedded"
            else None
        ),
    script:
        "../scripts/split_clips.py"


# Duets: two-instrument clips of the embedded dataset (data.duets.pairs), beside the
# IRMAS-layout folder, so that only the demo generator learns them (the classifiers stay
# single-label). IRMAS runs have none (predominant-instrument labels only): the rule then writes
# an empty manifest.
rule render_duets:
    output:
        directory("results/data/duets"),
    log:
        "logs/data/render_duets.log",
    conda:
        "../../envs/difftone.yaml"
    resources:
        **cpu_resources(seconds=0.3 * duet_clips(), mem_mb=2000),
    params:
        pairs=get_duet_pairs(),
        clips_per_pair=config["data"]["duets"]["clips_per_pair"],
        soundfonts=training_soundfonts(),
        seed=config["data"]["render_seed"],
        sample_rate=config["data"]["sample_rate"],
        clip_seconds=config["data"]["clip_seconds"],
        silence_db=config["data"]["silence_db"],
    script:
        "../scripts/render_duets.py"
