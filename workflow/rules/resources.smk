# The cluster cost model: what each job asks a scheduler for (docs/cluster.md).
# Included by the Snakefile after common.smk (its config and job lists) and before
# the stage files, whose `resources:` call these helpers.


def use_gpu():
    """GPU rules ask for one GPU exactly when the config runs models on CUDA."""
    return 1 if str(config["device"]).startswith("cuda") else 0


# GPU rules:  resources: **gpu_resources(seconds=denoise_seconds(n), mem_mb=model_mem_mb())
# CPU rules:  resources: **cpu_resources(seconds=..., mem_mb=...)
# Estimates scale with the config sizes (steps, duration, items per job), so the
# embedded default asks for little and configs/paper.yaml for enough. mem_mb and
# runtime grow with `attempt`: a job killed for memory or time is retried with
# more (profiles/slurm sets `retries`). Override one rule on a site with
# `set-resources: {rule: {runtime: 600}}` in a profile.

# Seconds of GPU work per unit. "real": derived from reference figures measured on
# ONE H200 (fp16, random weights, 10 s, 100
# steps, CFG 7; docs/cluster.md, "GPU cost per unit"): the engine's source
# generation with its classifier trace 4.5 s (0.045 s per step), 9 targets batched
# from step 50 8.7 s (0.0193 s per edit and step), peak 31 GiB of GPU memory. The
# DiT always denoises its whole window, so a step costs the same at any duration.
# GPU_CLASS_FACTOR allows for GPUs up to 2x slower than the H200 (A100 class);
# runtime doubles the work again (gpu_resources). Audio encoders, host memory and
# set-up were not measured: conservative guesses. "small": the tiny/demo stand-ins.
GPU_CLASS_FACTOR = 2.0
H200_SECONDS_PER_DENOISE_STEP = 4.5 / 100  # one source with trace, per step
H200_SECONDS_PER_BATCHED_EDIT_STEP = 8.7 / (
    9 * 50
)  # one edit of a batch of 9, per step
GPU_SECONDS_PER_DENOISE_STEP = {
    "real": GPU_CLASS_FACTOR * H200_SECONDS_PER_DENOISE_STEP,
    "small": 0.02,
}  # per item, CFG included
GPU_SECONDS_PER_EDIT_STEP = {
    "real": GPU_CLASS_FACTOR * H200_SECONDS_PER_BATCHED_EDIT_STEP,
    "small": 0.02,
}  # per edit, targets batched
GPU_SECONDS_PER_AUDIO_SECOND = {
    "real": 0.02,
    "small": 0.002,
}  # MERT, VAE, CLAP encoders (not measured)
HOST_MEM_MB = {"real": 16000, "small": 3000}  # load the model + torch (not measured)
SETUP_MINUTES = {
    "real": 10,
    "small": 2,
}  # start-up, imports, loading weights (not measured)


def model_scale():
    """'small' for the tiny/demo stand-ins, 'real' for a hub id or snapshot."""
    spec = str(config["model"]["spec"])
    return "small" if spec == "tiny" or spec.split(":")[0] == "demo" else "real"


def model_mem_mb():
    """Host memory (MB) a job needs to load the configured models."""
    return HOST_MEM_MB[model_scale()]


def denoise_seconds(items, steps=None):
    """GPU seconds to run `items` trajectories of `steps` (default: model.steps)."""
    steps = config["model"]["steps"] if steps is None else steps
    return items * steps * GPU_SECONDS_PER_DENOISE_STEP[model_scale()]


def batched_edit_seconds(n_edits):
    """GPU seconds of `n_edits` edits resumed at half the steps on average, targets batched."""
    steps = config["model"]["steps"] / 2
    return n_edits * steps * GPU_SECONDS_PER_EDIT_STEP[model_scale()]


def audio_seconds(seconds_of_audio):
    """GPU seconds for an encoder (MERT, SAO VAE, CLAP) to read that much audio."""
    return seconds_of_audio * GPU_SECONDS_PER_AUDIO_SECOND[model_scale()]


def _scaled_minutes(seconds, setup_minutes, attempt, wildcards):
    work = seconds(wildcards) if callable(seconds) else seconds
    return int(math.ceil((setup_minutes + 2.0 * work / 60.0) * attempt))


def _scaled_mem_mb(mem_mb, attempt, wildcards):
    base = mem_mb(wildcards) if callable(mem_mb) else mem_mb
    return int(math.ceil(base * 1.5 ** (attempt - 1)))


def gpu_resources(seconds=0.0, mem_mb=None, cpus_per_gpu=4, setup_minutes=None):
    """`resources:` of a GPU rule: one GPU under a cuda config, none otherwise.

    seconds: estimated GPU work of one job (a number, or a function of the
    wildcards for jobs of different sizes); runtime = setup + 2 x work, in
    minutes, times the attempt. mem_mb: host memory (default model_mem_mb()),
    x1.5 per attempt.
    """
    mem_mb = model_mem_mb() if mem_mb is None else mem_mb
    setup = SETUP_MINUTES[model_scale()] if setup_minutes is None else setup_minutes
    return {
        "gpu": use_gpu(),
        "cpus_per_gpu": cpus_per_gpu,
        "mem_mb": lambda wildcards, attempt: _scaled_mem_mb(mem_mb, attempt, wildcards),
        "runtime": lambda wildcards, attempt: _scaled_minutes(
            seconds, setup, attempt, wildcards
        ),
    }


def cpu_resources(seconds=0.0, mem_mb=2000, setup_minutes=2):
    """`resources:` of a CPU rule: no GPU; runtime and memory grow with the attempt."""
    return {
        "mem_mb": lambda wildcards, attempt: _scaled_mem_mb(mem_mb, attempt, wildcards),
        "runtime": lambda wildcards, attempt: _scaled_minutes(
            seconds, setup_minutes, attempt, wildcards
        ),
    }


# --- Per-stage estimates ----------------------------------------------------
IRMAS_CLIPS = 6705  # IRMAS training set, all classes: an upper bound to size jobs


def dataset_clips():
    """Clips in the dataset, to scale the runtime of feature and training jobs."""
    if config["data"]["source"] == "embedded":
        return len(config["instruments"]) * config["data"]["clips_per_instrument"]
    return IRMAS_CLIPS


def classifier_train_seconds(stage):
    """GPU seconds of one classifier training stage: epochs x clips x a per-clip cost."""
    per_clip = {"real": 0.01, "small": 0.002}[model_scale()]
    return config["classifiers"][stage]["epochs"] * dataset_clips() * per_clip


def demo_train_seconds():
    """Upper bound of the demo training time: max_steps at a slow CPU pace (training always runs all of them)."""
    demo = config["demo"]
    return demo["max_steps"] * demo["batch_size"] * 0.02 + 120


def sweep_seconds():
    """GPU seconds of the sweep job: every grid point edits a subset of the sources into every other instrument."""
    cap = config["sweep"]["sources_per_instrument"] or sources_count()
    sources = min(sources_count(), config["evaluation"]["tuning_per_instrument"], cap)
    n_edits = (
        sources
        * len(INSTRUMENTS)
        * (len(INSTRUMENTS) - 1)
        * len(config["sweep"]["steps"])
    )
    return batched_edit_seconds(n_edits) + audio_seconds(
        2 * n_edits * config["model"]["duration"]
    )


def sources_count():
    """Source generations per instrument: prompts x seeds."""
    return config["prompts"]["n_per_instrument"] * len(config["generation"]["seeds"])


def edit_seconds():
    """GPU seconds of one edit job: its instruments' sources into every other instrument."""
    n_edits = (
        sources_count()
        * (len(INSTRUMENTS) - 1)
        * config["edits"]["instruments_per_job"]
    )
    return batched_edit_seconds(n_edits) + audio_seconds(
        n_edits * config["model"]["duration"]
    )


def strategy_edit_seconds():
    """GPU seconds of all the edit jobs of one strategy (every source instrument)."""
    return edit_seconds() * len(EDIT_JOBS)


def multi_seconds():
    """GPU seconds of Table V: the duet sources, then each edited once per strategy (half the steps on average)."""
    n_sources = len({tuple(e[0]) for e in MULTI_EDITS}) * len(config["multi"]["seeds"])
    n_edits = (
        len(MULTI_EDITS)
        * len(config["multi"]["seeds"])
        * len(config["multi"]["strategies"])
    )
    return (
        denoise_seconds(n_sources)
        + denoise_seconds(n_edits, steps=config["model"]["steps"] / 2)
        + audio_seconds((n_sources + n_edits) * config["model"]["duration"])
    )


def swap_steps_seconds():
    """GPU seconds of Figure 2: each example edited at each swap step (at most N steps each)."""
    n = len(REPORT_EXAMPLES) * len(config["report"]["swap_steps"])
    return denoise_seconds(n) + audio_seconds(n * config["model"]["duration"])


def musicmagus_edits():
    """Edits of the stage: each pair's test sources (at most musicmagus.sources_per_pair)."""
    test = max(sources_count() - config["evaluation"]["tuning_per_instrument"], 0)
    per_pair = min(test, MM["sources_per_pair"] or test)
    return per_pair * len(MM_PAIRS)


def musicmagus_seconds():
    """GPU seconds of the MusicMagus job: per edit, the constrained run costs 3 NFE per step (+ backward);
    on another backbone the source is regenerated first."""
    n = musicmagus_edits()
    steps = MM["steps"] or config["model"]["steps"]
    regenerate = 0 if MM["model"] is None else n
    return denoise_seconds(4 * n + regenerate, steps=steps) + 120


def long_windows():
    """Windows the long rows of Table IV invert: each joined recording (one per long instrument) about one
    per clip, plus one."""
    return len(LONG_ROWS) * len(LONG_INSTRUMENTS) * (REAL_AUDIO["long"]["clips"] + 1)


def real_audio_clips():
    return len(INSTRUMENTS) * REAL_AUDIO["clips_per_instrument"]
