# Config validation, wildcard constraints and the helpers every rule file uses.
import math
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable in every job, also in `--sdm conda` environments that
# do not install it: jobs inherit PYTHONPATH from here.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)


def shell_python():
    """The interpreter of the shell rules: the one running Snakemake, so that `.venv/bin/snakemake`
    works with the venv not activated (whatever `python` is on PATH), or the rule's own environment's
    `python` when Snakemake deploys one (--sdm conda / apptainer)."""
    from snakemake.settings.types import DeploymentMethod

    deployed = workflow.deployment_settings.deployment_method
    if DeploymentMethod.CONDA in deployed or DeploymentMethod.APPTAINER in deployed:
        return "python"
    return sys.executable


# PYTHONHASHSEED: set and dict orders of strings are the same in every job and run.
# DIFFTONE_PYTHON: shell rules run `"$DIFFTONE_PYTHON" -m ...` (an environment variable,
# not a param: a run started from another interpreter path reruns nothing).
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH")] if p),
    PYTHONHASHSEED="0",
    DIFFTONE_PYTHON=shell_python(),
)

from difftone.config import check_config

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
check_config(config)

INSTRUMENTS = config["instruments"]


wildcard_constraints:
    instrument="|".join(INSTRUMENTS),
    source="|".join(INSTRUMENTS),
    target="|".join(INSTRUMENTS),


def use_gpu():
    """GPU rules ask for one GPU exactly when the config runs models on CUDA."""
    return 1 if str(config["device"]).startswith("cuda") else 0


def get_final_output():
    """Everything `rule all` asks for; grows with the stages."""
    return (
        [
            "results/data/index.csv",
            "results/tables/table1_classifiers.csv",
            "results/tables/table2_strategies.csv",
            "results/tables/per_pair.csv",
            "results/tables/paired.csv",
            "results/tables/table3_musicmagus.csv",
            "results/report/index.html",
        ]
        + (
            ["results/tables/sweep.csv", "results/figures/sweep.png"]
            if config["sweep"]["steps"]
            else []
        )
        + (
            ["results/tables/table4_real_audio.csv"]
            if config["real_audio"]["enabled"]
            else []
        )
        + ([MULTI_TABLE] if MULTI_EDITS else [])
    )


# --- Cluster resources (docs/cluster.md) ------------------------------------
# GPU rules:  resources: **gpu_resources(seconds=denoise_seconds(n), mem_mb=model_mem_mb())
# CPU rules:  resources: **cpu_resources(seconds=..., mem_mb=...)
# Estimates scale with the config sizes (steps, duration, items per job), so the
# embedded default asks for little and configs/paper.yaml for enough. mem_mb and
# runtime grow with `attempt`: a job killed for memory or time is retried with
# more (profiles/slurm sets `retries`). Override one rule on a site with
# `set-resources: {rule: {runtime: 600}}` in a profile.

# Seconds of GPU work per unit. "real": derived from the reference figures of
# issue 11, measured by its reporter on ONE H200 (fp16, random weights, 10 s, 100
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


# --- Fetched models (workflow/rules/models.smk) ------------------------------
# Every hub model the config names is fetched once by the local rule fetch_models
# into models.dir; jobs take the fetched folder as input and load it from there.
from difftone.models.fetch import FetchPlan

FETCH = FetchPlan.of(config)


wildcard_constraints:
    model_name="|".join(FETCH.models) if FETCH.models else "$^",


def get_teacher_features():
    """teacher_features with the fetched MERT folder as spec (recorded in the teacher's checkpoint)."""
    feats = dict(config["teacher_features"])
    feats["spec"] = FETCH.spec("mert", feats["spec"])
    return feats


TEACHER_ROUNDTRIP_MANIFEST = "results/features/teacher_roundtrip/index.csv"


def get_teacher_roundtrip_input(wildcards):
    """The round-tripped train/val features the teacher also trains on (teacher_features.roundtrip), or none."""
    if config["teacher_features"]["roundtrip"] is None:
        return {}
    return {"roundtrip": TEACHER_ROUNDTRIP_MANIFEST}


def get_clap():
    """metrics.clap with the fetched checkpoint file as checkpoint."""
    clap = dict(config["metrics"]["clap"])
    clap["checkpoint"] = FETCH.spec("clap", clap["checkpoint"])
    return clap


# --- Data stage (workflow/rules/data.smk) -----------------------------------
def get_clip_folder():
    """The IRMAS-layout folder the index is built from: rendered, downloaded, or the user's."""
    data = config["data"]
    if data["source"] == "embedded":
        return "results/data/embedded"
    return data["irmas_dir"] or "resources/IRMAS-TrainingData"


def get_duet_pairs():
    """The duets of the embedded dataset (data.duets.pairs); none for IRMAS (single-instrument labels)."""
    if config["data"]["source"] != "embedded":
        return []
    return [
        list(p) for p in config["data"]["duets"]["pairs"] if set(p) <= set(INSTRUMENTS)
    ]


def duet_clips():
    return len(get_duet_pairs()) * config["data"]["duets"]["clips_per_pair"]


# --- Classifiers (workflow/rules/features.smk, classifiers.smk) -------------
JUDGE_FILE = "results/classifiers/judge/model.json"


def get_judge_input():
    """The trained judge file (mfcc_logreg) or nothing (clap_zero_shot trains nothing)."""
    return [JUDGE_FILE] if config["judge"]["kind"] == "mfcc_logreg" else []


def get_judge():
    """judge with, under clap_zero_shot, the fetched tokenizer folder and CLAP checkpoint file."""
    judge = dict(config["judge"])
    if judge["kind"] == "clap_zero_shot":
        judge["tokenizer"] = FETCH.spec("clap_tokenizer", judge["tokenizer"])
        judge["checkpoint"] = (
            FETCH.spec("judge_clap", judge["checkpoint"])
            if judge["checkpoint"]
            else get_clap()["checkpoint"]
        )
    return judge


def get_judge_models():
    """The fetched folders the judge loads (clap_zero_shot: its tokenizer and CLAP checkpoint)."""
    if config["judge"]["kind"] != "clap_zero_shot":
        return []
    own = "judge_clap" if config["judge"]["checkpoint"] else "clap"
    return FETCH.inputs("clap_tokenizer", own)


IRMAS_CLIPS = 6705  # IRMAS training set, all classes: an upper bound to size jobs
CLASSIFIER_NAMES = ["teacher", "distilled", "non-distilled"]


def dataset_clips():
    """Clips in the dataset, to scale the runtime of feature and training jobs."""
    if config["data"]["source"] == "embedded":
        return len(config["instruments"]) * config["data"]["clips_per_instrument"]
    return IRMAS_CLIPS


def classifier_train_seconds(stage):
    """GPU seconds of one classifier training stage: epochs x clips x a per-clip cost."""
    per_clip = {"real": 0.01, "small": 0.002}[model_scale()]
    return config["classifiers"][stage]["epochs"] * dataset_clips() * per_clip


# --- Demo model (workflow/rules/demo.smk) -----------------------------------
# model.spec `demo` in a workflow config means the demo model this workflow trains.
# Rules that load the model take `input: model=get_model_input()` and
# `params: spec=get_model_spec()`, so that they wait for the trained checkpoint.
DEMO_CHECKPOINT = "results/demo/model"
DEMO_AUTOENCODER = "results/demo/autoencoder"  # its parameter-free autoencoder, fitted first (rule fit_demo_autoencoder)


def get_model_spec():
    """The spec model jobs pass to difftone.models.load_sao: the demo checkpoint, the fetched snapshot, or model.spec."""
    spec = str(config["model"]["spec"])
    return f"demo:{DEMO_CHECKPOINT}" if spec == "demo" else FETCH.spec("sao", spec)


def get_model_input():
    """Files a model job needs: the trained demo checkpoint (model.spec demo) or the fetched SAO snapshot."""
    if str(config["model"]["spec"]) == "demo":
        return [DEMO_CHECKPOINT]
    return FETCH.inputs("sao")


def get_autoencoder_spec():
    """The spec the latents cache loads: the demo family's fitted autoencoder (no trained DiT needed), or the model's."""
    if str(config["model"]["spec"]) == "demo":
        return f"demo-autoencoder:{DEMO_AUTOENCODER}"
    return get_model_spec()


def get_autoencoder_input():
    """Files the latents cache needs: the fitted demo autoencoder, or the model's files."""
    if str(config["model"]["spec"]) == "demo":
        return [DEMO_AUTOENCODER]
    return get_model_input()


def demo_train_seconds():
    """Upper bound of the demo training time: max_steps at a slow CPU pace (training always runs all of them)."""
    demo = config["demo"]
    return demo["max_steps"] * demo["batch_size"] * 0.02 + 120


# --- Experiment (workflow/rules/generate.smk, edits.smk, metrics.smk) -------
# A strategy's folder/wildcard is its slug: `fixed:25` -> `fixed-25`, `sigma:0.7` -> `sigma-0.7`.
# STRATEGIES: the rows of Table II. The sweep's fixed:K points (workflow/rules/sweep.smk)
# run in one job under results/sweep/.
STRATEGIES = {s.replace(":", "-"): s for s in config["edits"]["strategies"]}


wildcard_constraints:
    strategy="|".join(map(re.escape, STRATEGIES)) if STRATEGIES else "$^",


SOURCE_SPLIT = "results/sources/split.csv"


def get_sources():
    """Source-generation folders of every instrument."""
    return expand("results/sources/{instrument}", instrument=INSTRUMENTS)


def instrument_jobs(size):
    """{job name: its instruments}: `size` instruments per job, in the order of `instruments`; a job of
    one instrument is named by it, a group by its first and last."""
    groups = [INSTRUMENTS[i : i + size] for i in range(0, len(INSTRUMENTS), size)]
    return {g[0] if len(g) == 1 else f"{g[0]}-{g[-1]}": g for g in groups}


EDIT_JOBS = instrument_jobs(config["edits"]["instruments_per_job"])  # of one strategy
SOURCE_JOBS = instrument_jobs(config["generation"]["instruments_per_job"])
SOURCE_JOB_OF = {code: job for job, codes in SOURCE_JOBS.items() for code in codes}


wildcard_constraints:
    edit_job="|".join(map(re.escape, EDIT_JOBS)) if EDIT_JOBS else "$^",
    source_job="|".join(map(re.escape, SOURCE_JOBS)) if SOURCE_JOBS else "$^",


def edit_job_sources(wildcards):
    """The source-generation folders an edit job reads."""
    return expand(
        "results/sources/{instrument}", instrument=EDIT_JOBS[wildcards.edit_job]
    )


def get_pair_outputs(stem):
    """`stem` with {pair} expanded over every ordered instrument pair (the edit jobs' outputs)."""
    pairs = [f"{s}_to_{t}" for s in INSTRUMENTS for t in INSTRUMENTS if s != t]
    return expand(stem, pair=pairs, allow_missing=True)


def strategy_options(wildcards):
    """The config a strategy depends on, and only that (its spec's config keys in the strategy
    registry): changing it reruns only that strategy."""
    from difftone.engine import strategy_options as options_of

    return options_of(STRATEGIES[wildcards.strategy], config)


def probe_window(wildcards):
    """classifiers.window for the strategies whose probe reads x0_hat with the latent classifier
    (`probe`), None for the others (changing it reruns only those)."""
    from difftone.engine import strategy_spec

    if strategy_spec(STRATEGIES[wildcards.strategy]).probe_classifier:
        return config["classifiers"]["window"]
    return None


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


# --- Table V: duets edited per word (workflow/rules/multi.smk) --------------
MULTI_TABLE = "results/tables/table5_multi.csv"
# multi.edits whose duets are all in `instruments` (the others are left out, like unlisted instruments)
MULTI_EDITS = [
    [list(src), list(tgt)]
    for src, tgt in config["multi"]["edits"]
    if set(src) | set(tgt) <= set(INSTRUMENTS)
]


def multi_strategy_options():
    """strategy -> the config values it reads (its spec's config keys), for every Table V strategy."""
    from difftone.engine import strategy_options as options_of

    return {s: options_of(s, config) for s in config["multi"]["strategies"]}


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


# --- Report (workflow/rules/report.smk) -------------------------------------
from difftone.report.columns import TABLES as REPORT_TABLES
from difftone.config import example_pairs
from difftone.report.examples import gallery_pairs

REPORT_EXAMPLES = example_pairs(config["report"]["examples"], INSTRUMENTS)
# The listening examples: Figure 2's pairs plus one pair per other source instrument.
GALLERY_PAIRS = gallery_pairs(REPORT_EXAMPLES, INSTRUMENTS)
# The swap-step sweep stage (workflow/rules/sweep.smk) writes these; the report shows
# them when the workflow makes them, i.e. when get_final_output() asks for them.
SWEEP_TABLE = "results/tables/sweep.csv"
SWEEP_FIGURE = "results/figures/sweep.png"


def get_example_sources():
    """Source folders of the listening examples' source instruments (in INSTRUMENTS order)."""
    codes = {s for s, _ in GALLERY_PAIRS}
    return expand(
        "results/sources/{instrument}",
        instrument=[c for c in INSTRUMENTS if c in codes],
    )


def get_example_swaps():
    """swaps.csv of every strategy's edits of the listening examples (the report's audio gallery)."""
    return expand(
        "results/edits/{strategy}/{source}_to_{target}/swaps.csv",
        zip,
        strategy=[s for s in STRATEGIES for _ in GALLERY_PAIRS],
        source=[s for _ in STRATEGIES for s, _ in GALLERY_PAIRS],
        target=[t for _ in STRATEGIES for _, t in GALLERY_PAIRS],
    )


def get_sweep_outputs():
    """{sweep_table, sweep_figure}: the sweep's outputs that the workflow makes, else {}."""
    final = set(get_final_output())
    outputs = {"sweep_table": SWEEP_TABLE, "sweep_figure": SWEEP_FIGURE}
    return {name: path for name, path in outputs.items() if path in final}


def get_report_extras():
    """Optional inputs of the report page: the demo loss curve (model.spec demo), the sweep and its chroma
    reference, the paired comparisons, and the registered tables (difftone.report.columns.TABLES) that
    the workflow makes (those in get_final_output())."""
    extras = get_sweep_outputs()
    if extras.get("sweep_table"):
        extras["chroma_reference"] = "results/tables/chroma_reference.csv"
    if MULTI_EDITS:
        extras["multi_dir"] = (
            "results/multi"  # Table V's duet edits, listened to beside the table
        )
    if str(config["model"]["spec"]) == "demo":
        extras["loss_figure"] = "results/demo/loss.png"
    final = set(get_final_output())
    if "results/tables/paired.csv" in final:
        extras["paired"] = "results/tables/paired.csv"
    extras.update({spec.key: spec.csv for spec in REPORT_TABLES if spec.csv in final})
    return extras


def swap_steps_seconds():
    """GPU seconds of Figure 2: each example edited at each swap step (at most N steps each)."""
    n = len(REPORT_EXAMPLES) * len(config["report"]["swap_steps"])
    return denoise_seconds(n) + audio_seconds(n * config["model"]["duration"])


# --- MusicMagus, Table III (workflow/rules/musicmagus.smk) -------------------
MM = config["musicmagus"]
MM_PAIRS = [tuple(p) for p in MM["pairs"]]
MM_CODES = sorted({c for p in MM_PAIRS for c in p})
MM_SOURCES = sorted({s for s, _ in MM_PAIRS})


# Table III's methods: MusicMagus, then the Diff-TONE strategies whose existing edits it reads.
MM_METHODS = ["musicmagus"] + [s for s in ("difftone", "midpoint") if s in STRATEGIES]


def get_musicmagus_model():
    """The backbone spec of MusicMagus: the fetched musicmagus.model (AudioLDM2), or the workflow's model."""
    return (
        get_model_spec()
        if MM["model"] is None
        else FETCH.spec("audioldm2", str(MM["model"]))
    )


def get_musicmagus_model_input():
    """Files the MusicMagus job loads: the fetched AudioLDM2 folder, or the sources' model."""
    return get_model_input() if MM["model"] is None else FETCH.inputs("audioldm2")


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


# --- Real recordings, Table IV (workflow/rules/real_audio.smk) -----------------
from difftone.experiment.table4 import table4_rows  # no torch at parse time

REAL_AUDIO = config["real_audio"]


def real_audio_target_guidance():
    """Guidance of the strategies' edited steps on inverted recordings (default: model.guidance_scale)."""
    g = REAL_AUDIO["target_guidance"]
    return config["model"]["guidance_scale"] if g is None else g


REAL_ROWS = table4_rows(
    REAL_AUDIO["strategies"] or config["edits"]["strategies"],
    config["model"]["steps"],
    REAL_AUDIO["source_guidance"],
    real_audio_target_guidance(),
    REAL_AUDIO["zeta"],
)
REAL_INVERSIONS = {
    row["inversion"]: row["source_guidance"] for row in REAL_ROWS.values()
}


wildcard_constraints:
    row="|".join(re.escape(r) for r in REAL_ROWS),
    inversion="|".join(re.escape(i) for i in REAL_INVERSIONS),


def real_audio_inputs(wildcards):
    """The recordings' source: the dataset index (default) or real_audio.folder."""
    if REAL_AUDIO["folder"] is None:
        return {"index": "results/data/index.csv"}
    return {"folder": REAL_AUDIO["folder"]}


def real_audio_clips():
    return len(INSTRUMENTS) * REAL_AUDIO["clips_per_instrument"]


def first_per_source(pairs, n):
    """The first n pairs with distinct source instruments (a table's listening examples)."""
    seen, out = set(), []
    for s, t in pairs:
        if s not in seen and len(out) < n:
            seen.add(s)
            out.append([s, t])
    return out


def get_report_listening():
    """Named inputs of the report: the files of the listening sections of Tables III
    and IV (those the workflow makes), from which the report derives each section."""
    from difftone.report.listening import listening_files

    final = set(get_final_output())
    out = {}
    if "results/tables/table3_musicmagus.csv" in final:
        out["table3_listening"] = listening_files(
            MM_PAIRS,
            [f"results/edits/musicmagus/sources/{c}/items.csv" for c in MM_SOURCES],
            {
                m: (f"results/edits/{m}", f"results/metrics/{m}/items.csv")
                for m in MM_METHODS
            },
        )
    if "results/tables/table4_real_audio.csv" in final:
        first = next(iter(REAL_ROWS.values()))["inversion"]
        out["table4_listening"] = listening_files(
            first_per_source(GALLERY_PAIRS, 3),
            [f"results/real_audio/sources/{first}"],
            {
                slug: (
                    f"results/real_audio/edits/{slug}",
                    f"results/real_audio/metrics/{slug}/items.csv",
                )
                for slug in REAL_ROWS
            },
        )
    return out


def strategy_options_of(strategy):
    from difftone.engine import strategy_options as options_of

    return options_of(strategy, config)
