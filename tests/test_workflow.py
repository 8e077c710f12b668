"""The whole DAG on a tiny config: the output contract, incremental reruns, and what a
changed strategy setting reruns. Same rules and code paths as the embedded default."""

from __future__ import annotations

import pandas as pd
import pytest
from workflow_runner import Workflow

from difftone import audio

pytestmark = pytest.mark.slow

EPOCHS = {"epochs": 2, "patience": 2, "batch_size": 4}
TINY = {
    "instruments": ["pia", "vio", "flu"],
    "data": {"clips_per_instrument": 5, "heldout_clips_per_instrument": 2},
    "model": {"spec": "tiny", "steps": 6, "duration": 1.0},
    "prompts": {"n_per_instrument": 2, "source": "offline"},
    # 4 sources per instrument (1 tuning, 3 test); generation jobs pia-vio and flu, linked into results/sources/<code>
    "generation": {"seeds": [0, 1], "instruments_per_job": 2},
    "classifiers": {
        "student_channels": 4,
        "teacher": EPOCHS,
        "distill": EPOCHS,
        "student_head": EPOCHS,
        "baseline": EPOCHS,
    },
    # instruments_per_job 2: one edit job of two source instruments and one of one (pia-vio, flu)
    "edits": {
        "strategies": ["difftone", "midpoint", "random", "fixed:2", "probe", "agree", "sigma:1.0"],
        "instruments_per_job": 2,
    },
    "sweep": {"steps": [0, 3, 6], "sources_per_instrument": 1},
    "metrics": {"bootstrap": {"n_boot": 50}},
    "musicmagus": {
        "pairs": [["pia", "flu"], ["vio", "pia"]],
        "n_captions": 3,
        "caption_words": 4,
        "caption_source": "offline",
    },
    # + the ZETA row; the long rows (difftone, ZETA, difftone's passage) on one test clip per instrument
    # (the tiny split has one), every instrument a source: joining several clips, the windows and a subset of
    # sources are tested in test_long_rows.py
    "real_audio": {"strategies": ["difftone", "midpoint"], "long": {"clips": 1, "instruments": None}},
}
MM_PAIRS = [("pia", "flu"), ("vio", "pia")]
STRATEGY_DIRS = ["difftone", "midpoint", "random", "fixed-2", "probe", "agree", "sigma-1.0"]
PAIRS = [(s, t) for s in TINY["instruments"] for t in TINY["instruments"] if s != t]


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    wf = Workflow(tmp_path_factory.mktemp("dag"), TINY)
    wf.run()
    return wf


def test_the_dag_writes_the_output_contract(wf):
    results = wf.workdir / "results"
    for strategy in STRATEGY_DIRS:
        for s, t in PAIRS:
            swaps = pd.read_csv(results / "edits" / strategy / f"{s}_to_{t}" / "swaps.csv", keep_default_na=False)
            split = pd.read_csv(results / "sources" / "split.csv")
            test = split[(split["instrument"] == s) & (split["part"] == "test")]["item"]
            assert sorted(swaps["item"]) == sorted(test) and len(test) == 3  # the test sources only
            assert {"item", "prompt_index", "seed", "swap_step", "reason", "trace"} <= set(swaps.columns)
            for name in swaps["audio"]:
                assert (results / "edits" / strategy / f"{s}_to_{t}" / name).is_file()
    # two generation jobs (pia-vio, flu); each instrument's folder hard-linked where every stage reads it
    assert sorted(p.name for p in (results / "source_jobs").iterdir()) == ["flu", "pia-vio"]
    for code in TINY["instruments"]:
        job = "flu" if code == "flu" else "pia-vio"
        items = pd.read_csv(results / "sources" / code / "items.csv")
        assert len(items) == 4 and set(items["instrument"]) == {code}
        for wav in items["audio"]:
            assert (results / "sources" / code / wav).samefile(results / "source_jobs" / job / code / wav)
    fixed = pd.read_csv(results / "edits" / "fixed-2" / "pia_to_vio" / "swaps.csv")
    assert (fixed["swap_step"] == 2).all() and (fixed["nfe"] == 6 - 2).all()

    table2 = pd.read_csv(results / "tables" / "table2_strategies.csv")
    changed = table2["method"] == "difftone (changed)"
    assert table2.loc[~changed, "method"].tolist() == TINY["edits"]["strategies"]
    main = table2[~changed]
    assert (main["edits"] == len(PAIRS) * 3).all() and (main["sources"] == 3 * 3).all()  # the test part only
    assert (main["skipped"] == 0).all() and main["fallbacks"].ge(0).all() and table2["judge_acc"].notna().all()
    split = pd.read_csv(results / "sources" / "split.csv")
    assert split.groupby("instrument")["part"].apply(lambda p: (p == "tuning").sum()).eq(1).all()
    probe = table2.set_index("method").loc["probe"]
    assert probe["probe_nfe_per_edit"] > 0 and probe["nfe_per_edit"] > probe["probe_nfe_per_edit"]
    assert table2.set_index("method").loc["midpoint", "probe_nfe_per_edit"] == 0
    for metric in ["chroma", "inst_acc", "success"]:
        assert table2[metric].notna().all()
        assert (table2[f"{metric}_low"] <= table2[metric] + 1e-9).all()
        assert (table2[metric] <= table2[f"{metric}_high"] + 1e-9).all()
    # KAD per target instrument: 2 source instruments x 3 test sources = 6 edits, under KAD_MIN_ITEMS: no interval
    assert table2["kad"].notna().all() and table2["kad_low"].isna().all() and table2["kad_high"].isna().all()
    assert (results / "tables" / "table2_strategies.md").read_text().startswith("| method |")
    per_pair = pd.read_csv(results / "tables" / "per_pair.csv")
    assert len(per_pair) == len(STRATEGY_DIRS) * len(PAIRS) and (per_pair["n"] == 3).all()
    paired = pd.read_csv(results / "tables" / "paired.csv")
    assert set(paired["baseline"]) == {"difftone", "midpoint"} and (paired["edits"] == len(PAIRS) * 3).all()
    assert {"success", "chroma"} <= set(paired["metric"])

    sweep = pd.read_csv(results / "tables" / "sweep.csv")
    pooled = sweep[sweep["source"] == "all"]
    assert pooled["step"].tolist() == [0, 3, 6] and (pooled["n"] == len(PAIRS)).all()  # one source per instrument
    assert len(sweep) == 3 * (1 + len(PAIRS))
    assert pooled["chroma"].iloc[-1] == pytest.approx(0.0, abs=1e-6)  # a swap at step N is the source
    assert (results / "figures" / "sweep.png").stat().st_size > 10_000
    reference = pd.read_csv(results / "tables" / "chroma_reference.csv")
    # one tuning source per instrument: no tuning pair, so the reference reads every source (and says so)
    assert reference["instrument"].iloc[0] == "all" and (reference["sources"] == "all").all()
    assert reference["chroma"].notna().all() and (reference["n"] > 0).all()

    test = set(split.loc[split["part"] == "test", "item"])
    for s, t in MM_PAIRS:  # MusicMagus edits the first 2 (musicmagus.sources_per_pair) of each pair's test sources
        swaps = pd.read_csv(results / "edits" / "musicmagus" / f"{s}_to_{t}" / "swaps.csv")
        assert len(swaps) == 2 and set(swaps["item"]) <= test and (swaps["reason"] == "musicmagus").all()
        assert all((results / "edits" / "musicmagus" / f"{s}_to_{t}" / a).is_file() for a in swaps["audio"])
    table3 = pd.read_csv(results / "tables" / "table3_musicmagus.csv")
    assert list(zip(table3["method"], table3["pair"])) == [
        (m, p) for m in ["musicmagus", "difftone", "midpoint"] for p in ["pia_to_flu", "vio_to_pia", "all"]
    ]
    pooled = table3[table3["pair"] == "all"]
    assert (pooled["edits"] == 4).all() and (pooled["sources"] == 4).all()  # the same test edits for each method
    assert (table3.loc[table3["pair"] != "all", "edits"] == 2).all()
    assert pooled.set_index("method").loc["difftone", "excluded"] == 2  # its third test source of each pair
    assert table3["kad"].notna().all() and table3["kad_low"].isna().all()  # 2 edits per pair: no KAD interval
    for metric in ["chroma", "inst_acc", "judge_acc", "success"]:
        assert table3[metric].notna().all(), metric
        assert (table3[f"{metric}_low"] <= table3[metric] + 1e-9).all()
        assert (table3[metric] <= table3[f"{metric}_high"] + 1e-9).all()
    assert pooled.set_index("method").loc["musicmagus", "nfe_per_edit"] == 3 * 6  # 3 NFE per constrained step
    t3_paired = pd.read_csv(results / "tables" / "table3_paired.csv")
    assert set(t3_paired["baseline"]) == {"difftone"} and set(t3_paired["strategy"]) == {"musicmagus", "midpoint"}
    assert set(t3_paired["pair"]) == {"pia_to_flu", "vio_to_pia", "all"}
    assert (t3_paired.loc[t3_paired["pair"] == "all", "edits"] == 4).all()
    table4 = pd.read_csv(results / "tables" / "table4_real_audio.csv")
    table4 = table4[~table4["method"].str.endswith(" (changed)")]  # difftone's row without fallbacks, if any
    assert table4["method"].tolist() == [
        "difftone",
        "midpoint",
        "zeta (fixed:3)",
        "difftone (long)",
        "zeta (fixed:3) (long)",
        "difftone (passage)",
    ]
    guidance = wf.config["model"]["guidance_scale"]  # the swap rows edit at the sources' guidance, ZETA at its 12
    assert table4["source_guidance"].tolist() == [3.0] * 6
    assert table4["target_guidance"].tolist() == [guidance, guidance, 12.0, guidance, 12.0, guidance]
    # one clip per instrument: one edit per pair; KAD per target reads its 2 edits (from the 2 other instruments),
    # too few for an interval
    assert (table4["edits"] == len(PAIRS)).all() and table4["kad"].notna().all() and table4["kad_low"].isna().all()
    for metric in ["chroma", "inst_acc", "judge_acc", "success"]:
        assert table4[metric].notna().all()
    for row in ["zeta", "long-zeta"]:
        zeta = pd.read_csv(results / "real_audio" / "edits" / row / "pia_to_vio" / "swaps.csv")
        assert (zeta["swap_step"] == 3).all()
    for row in ["long-difftone", "long-zeta", "passage-difftone"]:  # each long row: its sources, the test clip
        sources = results / "real_audio" / "sources" / row
        joined = pd.read_csv(sources / "pia" / "items.csv", keep_default_na=False)
        assert joined["item"].tolist() == ["pia-long"] and joined["recording"].iloc[0].startswith("results/data/")
        assert pd.read_csv(sources / "split.csv")["part"].eq("test").all()
        length = audio.info(sources / "pia" / "pia-long" / "input.wav").frames
        edited = pd.read_csv(results / "real_audio" / "edits" / row / "pia_to_vio" / "swaps.csv")
        assert (
            audio.info(results / "real_audio" / "edits" / row / "pia_to_vio" / edited["audio"].iloc[0]).frames == length
        )
    inverted = pd.read_csv(results / "real_audio" / "sources" / "guidance-3" / "pia" / "items.csv")
    assert len(inverted) == 1 and inverted["recording"].iloc[0].startswith("results/data/")
    assert (results / "tables" / "table4_real_audio.md").read_text().startswith("| method |")

    table1 = pd.read_csv(results / "tables" / "table1_classifiers.csv")
    assert set(table1["eval_set"]) == {"irmas_test", "heldout_soundfont", "generated"}
    heldout = table1[table1["eval_set"] == "heldout_soundfont"]  # 2 clips per instrument of the held-out soundfont
    assert (heldout["n"] == 2 * len(TINY["instruments"])).all()
    assert "judge" in set(table1["classifier"]) and set(table1["selected_by"]) >= {"val"}
    generated = table1[table1["eval_set"] == "generated"]
    assert (generated["n"] == 3 * 4).all()  # every source generation, labelled by its prompt


def test_no_written_audio_is_clipped_and_dual_mono_is_mono(wf):
    wavs = sorted((wf.workdir / "results").rglob("*.wav"))
    assert len(wavs) > 100  # data, sources, every strategy's edits, the sweep, Figure 2
    for path in wavs:
        wave, _ = audio.load(path)
        assert audio.longest_full_scale_run(wave) == 0, f"{path} has full-scale samples"
        assert audio.peak(wave) <= audio.PEAK_CEILING + 1e-4, path
        assert wave.shape[0] == 1 or not (wave[0] == wave[1]).all(), f"{path}: identical channels stored as stereo"


def test_a_finished_run_plans_nothing(wf):
    assert wf.planned_rules() == {}


def without_report(planned: dict[str, int]) -> dict[str, int]:
    """The report page shows every strategy and the sweep: it reruns after any of them."""
    return {rule: n for rule, n in planned.items() if rule != "build_report"}


def test_changing_one_strategy_reruns_only_that_strategy(wf):
    planned = wf.planned_rules(override={"swap": {"no_change_policy": "skip"}})
    # difftone, probe and agree can fall back to the no-change policy (their registry specs say so);
    # edit jobs run per strategy and group of source instruments (pia-vio, flu), gathered per strategy
    n = 2
    assert without_report(planned) == {
        "edit_pairs": 3 * n,
        "gather_edits": 3,
        "score_edits": 3,
        "table2_strategies": 1,
        "table3_musicmagus": 1,  # Table III reads difftone's edits
        # difftone's row and the long rows' one job (its three rows rescored)
        "edit_recordings": 1,
        "edit_long_recordings": 1,
        "score_recordings": 4,
        "table4_real_audio": 1,
        "all": 1,
    }
    planned = wf.planned_rules(override={"edits": {"random_seed": 5}})
    assert without_report(planned) == {
        "edit_pairs": n,
        "gather_edits": 1,
        "score_edits": 1,
        "table2_strategies": 1,
        "all": 1,
    }


def test_changing_the_sweep_reruns_only_the_sweep(wf):
    planned = wf.planned_rules(override={"sweep": {"steps": [1, 5]}})
    assert without_report(planned) == {"sweep_swap_steps": 1, "all": 1}
    planned = wf.planned_rules(override={"metrics": {"success": {"max_chroma": 0.2}}})
    assert without_report(planned) == {
        "score_edits": len(STRATEGY_DIRS),
        "sweep_swap_steps": 1,
        "table2_strategies": 1,
        "score_musicmagus": 1,
        "table3_musicmagus": 1,
        "score_recordings": 6,
        "table4_real_audio": 1,
        "all": 1,
    }


def test_changing_a_musicmagus_setting_reruns_only_the_musicmagus_stage(wf):
    planned = wf.planned_rules(override={"musicmagus": {"step_size": 0.1}})
    assert without_report(planned) == {"edit_musicmagus": 1, "score_musicmagus": 1, "table3_musicmagus": 1, "all": 1}


def test_changing_zetas_guidance_reruns_only_its_rows(wf):
    planned = wf.planned_rules(override={"real_audio": {"zeta": {"target_guidance": 9.0}}})
    # its row, and the long rows' one job (its three rows rescored)
    assert without_report(planned) == {
        "edit_recordings": 1,
        "edit_long_recordings": 1,
        "score_recordings": 4,
        "table4_real_audio": 1,
        "all": 1,
    }


def test_the_report_page_exists_and_its_links_resolve(wf):
    from difftone.report import local_links

    page = wf.workdir / "results" / "report" / "index.html"
    text = page.read_text()
    links = local_links(text)
    assert links and all((page.parent / link).is_file() for link in links)
    assert text.count("<audio") == len([link for link in links if link.endswith(".wav")]) >= 2 * 6 + 2
    # Figure 2 of the default examples present in TINY (pia->vio, vio->pia) at steps 0, 2, 3, 5, N=6, each
    # player a copy at the page's listening level
    assert {
        f"assets/swap_steps/{p}/step_{k:03d}.wav" for p in ["pia_to_vio", "vio_to_pia"] for k in [0, 2, 3, 5, 6]
    } <= set(links)
    assert "assets/swap_steps.png" in links and "assets/sweep.png" in links  # the sweep, as the workflow makes it


def test_a_second_run_of_the_same_config_gives_the_same_tables_byte_for_byte(wf, tmp_path_factory):
    """Seeds, deterministic algorithms, a fixed thread count per job: every table of a fresh run equals the
    first run's, whatever else the machine was doing meanwhile."""
    again = Workflow(tmp_path_factory.mktemp("dag_again"), TINY)
    again.run()
    tables = sorted(p.relative_to(wf.workdir) for p in (wf.workdir / "results" / "tables").glob("*.*"))
    assert {p.name for p in tables} >= {
        "table1_classifiers.csv",
        "table2_strategies.csv",
        "per_pair.csv",
        "paired.csv",
        "sweep.csv",
        "chroma_reference.csv",
        "table3_musicmagus.csv",
        "table3_paired.csv",
    }
    differ = [str(p) for p in tables if (wf.workdir / p).read_bytes() != (again.workdir / p).read_bytes()]
    assert not differ, f"tables differ between two runs of one config: {differ}"


def test_the_report_page_in_headless_chromium_at_1280_and_390_px(wf):
    from browser import check_page

    page = wf.workdir / "results" / "report" / "index.html"
    text = page.read_text()
    assert 'id="verdict"' in text and "Not comparable with the paper" in text  # tiny model, embedded data
    assert 'preload="none"' not in text
    for width in (1280, 390):
        assert check_page(page, width) == [], width


def test_snakemakes_own_report_carries_the_figures_and_tables(wf):
    import zipfile

    res = wf.snakemake("--report", "report.zip")
    assert res.returncode == 0, res.stderr[-4000:]
    names = {name.rsplit("/", 1)[-1] for name in zipfile.ZipFile(wf.workdir / "report.zip").namelist()}
    figures = {"swap_steps.png", "sweep.png"} | {
        f"confusion_{c}.png" for c in ["teacher", "distilled", "non-distilled"]
    }
    assert figures <= names, sorted(names)
    assert {
        "table1_classifiers.csv",
        "table2_strategies.csv",
        "per_pair.csv",
        "sweep.csv",
        "paired.csv",
        "chroma_reference.csv",
    } <= names, sorted(names)


def test_lost_sources_of_one_instrument_regenerate_only_its_generation_job(wf):
    import shutil

    results = wf.workdir / "results"
    shutil.rmtree(results / "sources" / "flu")
    shutil.rmtree(results / "source_jobs" / "flu")
    planned = wf.planned_rules("results/sources/flu", "results/sources/pia")
    assert planned == {"generate_sources": 1, "link_sources": 1}  # flu's job, not pia-vio's
    wf.run("results/sources/flu")
    wf.run("--touch")  # the regenerated sources are the same (seeded): mark what follows up to date
    assert wf.planned_rules() == {}
