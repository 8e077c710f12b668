"""Table V's stage on tiny components (difftone.experiment.multi.run_multi) and the duet data it rests on
(the embedded dataset's duets, the demo generator's duet captions, the rule in the DAG)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.classifiers.checkpoint import save_checkpoint
from difftone.classifiers.heads import ClassifierHead
from difftone.classifiers.mert import load_mert
from difftone.classifiers.teacher import TeacherClassifier, TeacherEncoder
from difftone.experiment.multi import JUDGE_CHECK, TABLE5_COLUMNS, judge_reading, run_multi

torch.set_num_threads(1)

CLASSES = ["pia", "tru", "org", "sax"]
BOOT = {"n_boot": 200, "alpha": 0.05, "seed": 0}
CHROMA = {"method": "stft", "sample_rate": 22050, "hop_length": 512}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The distilled (latent) classifier and the teacher (the judge), untrained, in their real checkpoint formats."""
    from difftone.models import load_sao

    root = tmp_path_factory.mktemp("ckpt")
    clf = tiny_latent_classifier(load_sao("tiny").latent_channels, CLASSES, seed=0)
    save_checkpoint(clf, "latent_classifier", clf.checkpoint_config(), root / "distilled")
    mert = load_mert("tiny")
    torch.manual_seed(0)
    teacher = TeacherClassifier(
        TeacherEncoder(mert.num_layers, mert.hidden_size, frames_in=16), ClassifierHead(64, len(CLASSES)), CLASSES
    )
    save_checkpoint(
        teacher, "teacher", teacher.checkpoint_config(mert={"spec": "tiny", "sample_rate": 24000}), root / "teacher"
    )
    return root


def test_judge_reading_is_the_share_of_instruments_in_the_top_k():
    ranking = ["pia", "tru", "org", "sax"]
    assert judge_reading(ranking, ["pia", "tru"], 2) == 1.0
    assert judge_reading(ranking, ["pia", "org"], 2) == 0.5
    assert judge_reading(ranking, ["org", "sax"], 1) == 0.0


def test_the_independent_judges_rank_every_instrument(tmp_path):
    from difftone.classifiers.judge import MfccJudge

    rng = np.random.default_rng(0)
    judge = MfccJudge(
        CLASSES, np.zeros(8), np.ones(8), rng.normal(size=(4, 8)), np.zeros(4), n_mfcc=2, sample_rate=22050
    )
    wave = rng.normal(size=22050).astype(np.float32) * 0.1
    ranking = judge.ranking(wave, 22050)
    assert sorted(ranking) == sorted(CLASSES) and ranking[0] == judge.predict_audio(wave, 22050)


def test_the_stage_writes_table5_edits_items_and_audio(checkpoints, tmp_path):
    edits = [[["pia", "tru"], ["org", "sax"]]]
    strategies = ["presence", "midpoint", "difftone"]
    options = {
        "presence": {"presence_threshold": 0.26, "no_change_policy": "midpoint"},
        "difftone": {"no_change_policy": "midpoint"},
        "midpoint": {},
    }
    from difftone.classifiers.judge import MfccJudge

    rng = np.random.default_rng(1)
    judge = MfccJudge(
        CLASSES, np.zeros(8), np.ones(8), rng.normal(size=(4, 8)), np.zeros(4), n_mfcc=2, sample_rate=22050
    )
    table = run_multi(
        edits,
        tmp_path / "multi",
        tmp_path / "tables" / "table5_multi.csv",
        model="tiny",
        classifier=checkpoints / "distilled",
        teacher=checkpoints / "teacher",
        judge=judge,
        prompt="A jazz duet for {first} and {second}",
        seeds=[0, 1],
        strategies=strategies,
        options=options,
        steps=5,
        duration=0.5,
        guidance_scale=4.0,
        chroma=CHROMA,
        bootstrap=BOOT,
        top_k=2,
    )
    written = pd.read_csv(tmp_path / "tables" / "table5_multi.csv")
    assert list(written.columns) == TABLE5_COLUMNS and written["method"].tolist() == [*strategies, JUDGE_CHECK]
    assert (tmp_path / "tables" / "table5_multi.md").read_text().startswith("| method | sources | n |")
    assert table["sources"].tolist() == [2, 2, 2, 2]
    for m in ("inst_acc", "all_reached", "judge_acc"):
        assert ((table[f"{m}_low"] <= table[m] + 1e-12) & (table[m] <= table[f"{m}_high"] + 1e-12)).all()
    rows = table.set_index("method")
    assert rows.loc["midpoint", "swap_step_mean"] == 2 and rows.loc["midpoint", "step_gap_mean"] == 0
    assert rows.loc["midpoint", "nfe_per_edit"] == 5 - 2 and np.isnan(rows.loc[JUDGE_CHECK, "chroma"])

    done = pd.read_csv(tmp_path / "multi" / "edits.csv", keep_default_na=False)
    assert len(done) == 2 * len(strategies)
    assert set(done["target_prompt"]) == {"A jazz duet for organ and saxophone"}
    assert set(done["source_prompt"]) == {"A jazz duet for piano and trumpet"}
    for r in done.itertuples():
        steps = json.loads(r.word_steps)
        assert list(steps) == ["pia->org", "tru->sax"] and r.swap_step == min(steps.values())
        schedule = json.loads(r.schedule)
        assert schedule[-1][1] == "A jazz duet for organ and saxophone" and schedule[0][0] == r.swap_step
        wave, sr = sf.read(r.audio)
        assert sr == 44100 and len(wave) == 22050
    items = pd.read_csv(tmp_path / "multi" / "items.csv")
    assert set(items["strategy"]) == {*strategies, JUDGE_CHECK} and (items["top_k"] == 2).all()
    assert items["judge_acc"].notna().all() and all(len(t.split()) == 2 for t in items["teacher_top"])
    assert items.loc[items["strategy"] != JUDGE_CHECK, "chroma"].notna().all()
    assert sorted(p.name for p in (tmp_path / "multi" / "sources").iterdir()) == ["pia+tru-s0", "pia+tru-s1"]

    # the report: Table V is a registered table, and its duet edits are listened to (source + each strategy)
    from difftone.report.columns import TABLES
    from difftone.report.page import _Media, _multi_listening_section, local_links

    assert [s.csv for s in TABLES if s.key == "table5"] == ["results/tables/table5_multi.csv"]
    page, assets = tmp_path / "report", tmp_path / "report" / "assets"
    assets.mkdir(parents=True)
    anchor, title, body = _multi_listening_section(
        tmp_path / "multi", {"model": {"steps": 5}}, _Media(page, assets, assets)
    )
    assert anchor == "table5-listen" and body.count("<audio") == 1 + len(strategies)
    assert "pia-&gt;org at step" in body or "pia->org at step" in body
    assert all((page / link).is_file() for link in local_links(body))


def test_the_stage_names_an_empty_edit_list(checkpoints, tmp_path):
    from difftone.experiment.items import ExperimentError

    with pytest.raises(ExperimentError, match="multi.edits is empty"):
        run_multi(
            [],
            tmp_path,
            tmp_path / "t.csv",
            model="tiny",
            classifier=checkpoints / "distilled",
            teacher=checkpoints / "teacher",
            prompt="{first} and {second}",
            seeds=[0],
            strategies=["midpoint"],
            options={},
            steps=4,
            duration=0.5,
            guidance_scale=4.0,
            chroma=CHROMA,
            bootstrap=BOOT,
        )


# -- the duet data -----------------------------------------------------------------------------------
def test_duets_render_both_kinds_seeded_and_apart_from_the_irmas_folder(tmp_path):
    from difftone.data import read_duets, render_duets

    manifest = render_duets(tmp_path / "duets", [("pia", "tru")], 2, seed=0, clip_seconds=1.0)
    assert manifest["kind"].tolist() == ["unison", "accompaniment"]
    table = read_duets(tmp_path / "duets")
    assert table["instruments"].tolist() == [("pia", "tru")] * 2
    wave, sr = sf.read(table["path"][0])
    assert sr == 44100 and wave.shape == (44100, 2) and 0.4 < np.abs(wave).max() <= 0.9
    assert (tmp_path / "duets" / "midi" / "pia+tru" / "pia+tru_0001.mid").is_file()
    again = render_duets(tmp_path / "again", [("pia", "tru")], 1, seed=0, clip_seconds=1.0)
    assert again["pitches"][0] == manifest["pitches"][0]
    assert np.array_equal(sf.read(tmp_path / "again" / "pia+tru" / "pia+tru_0001.wav")[0], wave)
    empty = render_duets(tmp_path / "none", [], 3)
    assert empty.empty and read_duets(tmp_path / "none").empty


def test_the_demo_generator_captions_duets_with_both_words():
    from difftone.demo_training import duet_caption, training_caption

    rng = np.random.default_rng(0)
    captions = [duet_caption(("pia", "tru"), rng) for _ in range(40)]
    assert all(c.split().count("piano") == 1 and c.split().count("trumpet") == 1 for c in captions)
    assert any(c.index("piano") < c.index("trumpet") for c in captions)
    assert any(c.index("trumpet") < c.index("piano") for c in captions)
    assert "violin" in training_caption("vio", rng) and "organ" in training_caption(("org", "sax"), rng)


def test_the_dag_has_the_duet_stage_only_when_configured(tmp_path):
    from workflow_runner import Workflow

    wf = Workflow(tmp_path, {"instruments": ["pia", "tru", "org", "sax"], "musicmagus": {"pairs": [["pia", "org"]]}})
    planned = wf.planned_rules("results/tables/table5_multi.csv")
    assert planned["edit_duets"] == 1 and planned["render_duets"] == 1
    without = wf.planned_rules(override={"multi": {"edits": []}})
    assert "edit_duets" not in without and "render_duets" in without  # the demo generator still learns duets
    subset = wf.planned_rules(override={"instruments": ["pia", "vio"], "musicmagus": {"pairs": [["pia", "vio"]]}})
    assert "edit_duets" not in subset  # the configured duets name instruments outside `instruments`
