"""Experiment stages on tiny components: sources, edits, scoring and tables, and their bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from difftone.classifiers import tiny_latent_classifier
from difftone.classifiers.checkpoint import save_checkpoint
from difftone.engine import Trajectory
from difftone.experiment import edits as edits_module
from difftone.experiment.edits import edit_rng, run_edits
from difftone.experiment.items import ExperimentError, check_finite, read_table, strategy_slug
from difftone.experiment.sources import generate_sources, generated_set, read_sources
from difftone.experiment.tables import strategy_table, to_markdown

SETTINGS = dict(seeds=[0, 1], steps=5, duration=0.5, guidance_scale=4.0, batch_size=2)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    from difftone.models import load_sao

    clf = tiny_latent_classifier(load_sao("tiny").latent_channels, ["pia", "vio"], seed=0)
    clf_dir = root / "clf"
    save_checkpoint(clf, "latent_classifier", clf.checkpoint_config(), clf_dir)
    dirs = {}
    for code, prompt in [("pia", "A soft piano melody"), ("vio", "A bright violin tune")]:
        (root / f"{code}.txt").write_text(prompt + "\n")
        dirs[code] = root / "sources" / code
        generate_sources(root / f"{code}.txt", code, dirs[code], model="tiny", classifier=clf_dir, **SETTINGS)
    return root, dirs


def test_sources_write_items_audio_and_resumable_trajectories(sources):
    _, dirs = sources
    items = read_sources(dirs["pia"])
    assert items["item"].tolist() == ["pia-p000-s0", "pia-p000-s1"]
    traj = Trajectory.load(items["trajectory"][0])
    assert traj.prompt == "A soft piano melody" and traj.seed == 0 and traj.steps == 5
    assert traj.trace is not None and traj.trace.steps == 5
    assert items["top1_final"][0] == traj.trace.top1[-1]


def test_edits_write_every_pair_with_swaps_and_nfe(sources, tmp_path):
    _, dirs = sources
    swaps = run_edits("fixed:3", dirs, ["pia", "vio"], tmp_path, model="tiny")
    assert sorted(swaps[["source", "target"]].drop_duplicates().itertuples(index=False)) == [("pia", "vio"), ("vio", "pia")]
    table = pd.read_csv(tmp_path / "pia_to_vio" / "swaps.csv")
    assert table["target_prompt"].tolist() == ["A soft violin melody"] * 2
    assert (table["swap_step"] == 3).all() and (table["nfe"] == 2).all()
    nfe = json.loads((tmp_path / "nfe.json").read_text())
    assert nfe == {"strategy": "fixed:3", "sources": 4, "edits": 4, "nfe": 8, "denoiser_calls": 8}


def test_swap_at_the_last_step_returns_the_source_audio(sources, tmp_path):
    _, dirs = sources
    run_edits("none", dirs, ["pia", "vio"], tmp_path, model="tiny")
    from difftone import audio

    edit, _ = audio.load(tmp_path / "pia_to_vio" / "pia-p000-s1.wav")
    source, _ = audio.load(dirs["pia"] / "pia-p000-s1" / "source.wav")
    np.testing.assert_array_equal(edit, source)


def test_random_strategy_draws_depend_on_item_and_target_only():
    a = edit_rng(0, "pia-p000-s0", "vio").integers(0, 1000, 5)
    assert (a == edit_rng(0, "pia-p000-s0", "vio").integers(0, 1000, 5)).all()
    assert (a != edit_rng(0, "pia-p000-s0", "flu").integers(0, 1000, 5)).any()
    assert (a != edit_rng(1, "pia-p000-s0", "vio").integers(0, 1000, 5)).any()


def test_nan_in_an_edit_stops_with_the_item_named(sources, tmp_path, monkeypatch):
    _, dirs = sources
    real_edit = edits_module.Editor.edit

    def nan_edit(self, trajectory, prompts, steps):
        return [torch.full_like(w, float("nan")) for w in real_edit(self, trajectory, prompts, steps)]

    monkeypatch.setattr(edits_module.Editor, "edit", nan_edit)
    with pytest.raises(ExperimentError, match=r"the edit of pia-p000-s0 to vio \(midpoint\) contains NaN"):
        run_edits("midpoint", dirs, ["pia", "vio"], tmp_path, model="tiny")


def test_nan_in_latents_stops_with_the_item_named():
    with pytest.raises(ExperimentError, match="the latents of source pia-p000-s0 contains NaN"):
        check_finite(torch.tensor([1.0, float("nan")]), "the latents of source pia-p000-s0")


def test_an_empty_edit_set_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "swaps.csv"
    pd.DataFrame(columns=["item", "swap_step"]).to_csv(path, index=False)
    with pytest.raises(ExperimentError, match=r"swaps\.csv has no rows: the edit stage produced no items"):
        read_table(path, ["item", "swap_step"], "edit")
    path.write_text("")
    with pytest.raises(ExperimentError, match=r"swaps\.csv is empty"):
        read_table(path, ["item"], "edit")


def test_generated_set_labels_each_source_by_its_prompt_instrument(sources, tmp_path):
    _, dirs = sources
    df = generated_set([dirs["pia"], dirs["vio"]], tmp_path / "generated.csv")
    assert df["instrument"].tolist() == ["pia", "pia", "vio", "vio"]
    assert all(p.endswith("source.wav") for p in df["path"])


def test_strategy_table_pools_items_and_pairs(tmp_path):
    items = pd.DataFrame({"strategy": "x", "source": "pia", "target": ["vio"] * 3 + ["flu"] * 3, "item": list("abcabc"),
                          "swap_step": [1, 2, 3, 1, 2, 3], "sigma": 1.0, "chroma": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3],
                          "predicted": "vio", "inst_acc": [1, 1, 0, 0, 0, 0]})
    pairs = pd.DataFrame({"strategy": "x", "source": "pia", "target": ["vio", "flu"], "n": 3, "skipped": [0, 1],
                          "swap_step_mean": 2.0, "chroma": 0.2, "chroma_low": 0.1, "chroma_high": 0.3,
                          "inst_acc": [2 / 3, 0], "inst_acc_low": 0, "inst_acc_high": 1, "kad": [1.0, 3.0],
                          "kad_low": 0, "kad_high": 4})
    items.to_csv(tmp_path / "items.csv", index=False)
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    (tmp_path / "nfe.json").write_text(json.dumps({"nfe": 12, "edits": 6}))
    table = strategy_table({"x": tmp_path / "items.csv"}, {"x": tmp_path / "pairs.csv"}, {"x": tmp_path / "nfe.json"},
                           {"n_boot": 200, "seed": 0, "alpha": 0.05})
    row = table.iloc[0]
    assert row["chroma"] == pytest.approx(0.2) and row["inst_acc"] == pytest.approx(2 / 6)
    assert row["kad"] == pytest.approx(2.0) and row["skipped"] == 1 and row["nfe_per_edit"] == pytest.approx(2.0)
    assert to_markdown(table).splitlines()[0].startswith("| method | chroma |")


def test_strategy_slug_makes_a_folder_name():
    assert strategy_slug("fixed:25") == "fixed-25" and strategy_slug("difftone") == "difftone"
