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


def training_soundfonts():
    """The soundfonts the embedded dataset's training clips (and duets) are rendered from."""
    data = config["data"]
    return [s for s in data["soundfonts"] if s != data["heldout_soundfont"]]


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


CLASSIFIER_NAMES = ["teacher", "distilled", "non-distilled"]


# --- Demo model (workflow/rules/demo.smk) -----------------------------------
# model.spec `demo` in a workflow config means the demo model this workflow trains.
# Rules that load the model take `input: model=get_model_input()` and
# `params: model=get_model_settings()`, so that they wait for the trained checkpoint.
DEMO_CHECKPOINT = "results/demo/model"
DEMO_AUTOENCODER = "results/demo/autoencoder"  # its parameter-free autoencoder, fitted first (rule fit_demo_autoencoder)


def get_model_spec():
    """The spec model jobs pass to difftone.models.load_sao: the demo checkpoint, the fetched snapshot, or model.spec."""
    spec = str(config["model"]["spec"])
    return f"demo:{DEMO_CHECKPOINT}" if spec == "demo" else FETCH.spec("sao", spec)


def get_model_settings(**overrides):
    """The generative model's settings (difftone.models.ModelSettings' keys) that every rule loading it
    passes as `params: model=get_model_settings()`: a plain dict, so a changed key reruns the job;
    `overrides` replace keys (another model's spec)."""
    model = config["model"]
    settings = {
        "spec": get_model_spec(),
        "dtype": model["dtype"],
        "device": config["device"],
        "compile": model["compile"],
        "window": model["window"],
        "window_margin": model["window_margin_frames"],
    }
    settings.update(overrides)
    return settings


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


def get_musicmagus_model_settings():
    """MusicMagus's model settings: its spec, on the whole window and uncompiled (its guided steps
    run with gradients; AudioLDM2 denoises its whole window)."""
    return get_model_settings(spec=get_musicmagus_model(), compile=False, window="full")


def get_musicmagus_model_input():
    """Files the MusicMagus job loads: the fetched AudioLDM2 folder, or the sources' model."""
    return get_model_input() if MM["model"] is None else FETCH.inputs("audioldm2")


# --- Real recordings, Table IV (workflow/rules/real_audio.smk) -----------------
from difftone.experiment.table4 import (
    long_instruments,
    long_rows,
    table4_rows,
)  # no torch at parse time

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
# the rows on long recordings and passages: one job edits them all (rule edit_long_recordings), each into
# its own sources folder; scored and tabled as the rows above, left out of the listening section
LONG_ROWS = long_rows(REAL_ROWS, REAL_AUDIO["long"])
TABLE4_ROWS = {**REAL_ROWS, **LONG_ROWS}
# the long rows' source instruments (real_audio.long.instruments), each edited into every other instrument
LONG_INSTRUMENTS = (
    long_instruments(REAL_AUDIO["long"], INSTRUMENTS) if LONG_ROWS else []
)


def row_pairs(row):
    """The [source, target] pairs a Table IV row edits: every ordered pair of `instruments`, a long row's
    from the long instruments only."""
    sources = LONG_INSTRUMENTS if row in LONG_ROWS else INSTRUMENTS
    return [[s, t] for s in sources for t in INSTRUMENTS if s != t]


def get_row_pair_outputs(row, stem):
    """`stem` with {row} and {pair} expanded over the row's pairs (:func:`row_pairs`)."""
    return expand(stem, row=row, pair=[f"{s}_to_{t}" for s, t in row_pairs(row)])


def real_row_sources(row):
    """The sources folder a Table IV row's edits start from (an inversion, or the row's long recordings)."""
    return f"results/real_audio/sources/{TABLE4_ROWS[row]['sources']}"


wildcard_constraints:
    row="|".join(re.escape(r) for r in TABLE4_ROWS),
    inversion="|".join(re.escape(i) for i in REAL_INVERSIONS),


def real_audio_inputs(wildcards):
    """The recordings' source: the dataset index (default) or real_audio.folder."""
    if REAL_AUDIO["folder"] is None:
        return {"index": "results/data/index.csv"}
    return {"folder": REAL_AUDIO["folder"]}


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
