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
from difftone.experiment.scoring import edit_success
from difftone.experiment.sweep import sweep_table, write_sweep
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
    assert nfe == {"strategy": "fixed:3", "sources": 4, "edits": 4, "nfe": 8, "probe_nfe": 0, "denoiser_calls": 8}
    assert (table["probe_nfe"] == 0).all()


def test_probe_edits_count_their_probes_per_edit_and_in_nfe_json(sources, tmp_path):
    root, dirs = sources
    with pytest.raises(ExperimentError, match="probes the target prompt with the latent classifier"):
        run_edits("probe", dirs, ["pia", "vio"], tmp_path, model="tiny")
    swaps = run_edits("probe", dirs, ["pia", "vio"], tmp_path, model="tiny", classifier=root / "clf")
    n = SETTINGS["steps"]
    for r in swaps.itertuples():
        found = "latest step" in r.reason
        assert r.probe_nfe == (n - r.swap_step if found else n)  # scanned back to the step, or every step
        assert r.nfe == n - r.swap_step + r.probe_nfe
    nfe = json.loads((tmp_path / "nfe.json").read_text())
    assert nfe["probe_nfe"] == swaps["probe_nfe"].sum() > 0
    assert nfe["nfe"] == swaps["nfe"].sum()  # every denoiser evaluation is some edit's


def test_agree_edits_need_no_classifier_and_count_their_probes(sources, tmp_path):
    _, dirs = sources
    swaps = run_edits("agree", dirs, ["pia", "vio"], tmp_path, model="tiny")
    n = SETTINGS["steps"]
    assert ((swaps["probe_nfe"] == n - swaps["swap_step"] + 2) | (swaps["swap_step"] == 1)).all()
    assert json.loads((tmp_path / "nfe.json").read_text())["nfe"] == swaps["nfe"].sum()


def test_max_sources_edits_a_subset(sources, tmp_path):
    _, dirs = sources
    run_edits("fixed:4", dirs, ["pia", "vio"], tmp_path, model="tiny", max_sources=1)
    table = pd.read_csv(tmp_path / "vio_to_pia" / "swaps.csv")
    assert table["item"].tolist() == ["vio-p000-s0"]


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
                          "predicted": "vio", "inst_acc": [1, 1, 0, 0, 0, 0], "success": [1, 0, 0, 0, 0, 0]})
    pairs = pd.DataFrame({"strategy": "x", "source": "pia", "target": ["vio", "flu"], "n": 3, "skipped": [0, 1],
                          "swap_step_mean": 2.0, "chroma": 0.2, "chroma_low": 0.1, "chroma_high": 0.3,
                          "inst_acc": [2 / 3, 0], "inst_acc_low": 0, "inst_acc_high": 1, "success": [1 / 3, 0],
                          "success_low": 0, "success_high": 1, "kad": [1.0, 3.0],
                          "kad_low": 0, "kad_high": 4})
    items.to_csv(tmp_path / "items.csv", index=False)
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    (tmp_path / "nfe.json").write_text(json.dumps({"nfe": 12, "edits": 6, "probe_nfe": 3}))
    table = strategy_table({"x": tmp_path / "items.csv"}, {"x": tmp_path / "pairs.csv"}, {"x": tmp_path / "nfe.json"},
                           {"n_boot": 200, "seed": 0, "alpha": 0.05})
    row = table.iloc[0]
    assert row["chroma"] == pytest.approx(0.2) and row["inst_acc"] == pytest.approx(2 / 6)
    assert row["kad"] == pytest.approx(2.0) and row["skipped"] == 1 and row["nfe_per_edit"] == pytest.approx(2.0)
    assert row["success"] == pytest.approx(1 / 6) and row["success_low"] <= row["success"] <= row["success_high"]
    assert row["probe_nfe_per_edit"] == pytest.approx(0.5) and row["sigma_median"] == pytest.approx(1.0)
    assert to_markdown(table).splitlines()[0].startswith("| method | chroma |")


def test_strategy_slug_makes_a_folder_name():
    assert strategy_slug("fixed:25") == "fixed-25" and strategy_slug("difftone") == "difftone"
    assert strategy_slug("sigma:0.7") == "sigma-0.7"


def test_success_needs_the_target_and_the_content():
    assert edit_success(1.0, 0.2, 0.3) == 1.0
    assert edit_success(1.0, 0.3, 0.3) == 1.0  # at the threshold: kept
    assert edit_success(1.0, 0.31, 0.3) == 0.0  # the music changed
    assert edit_success(0.0, 0.0, 0.3) == 0.0  # the instrument did not


BOOT = {"n_boot": 200, "seed": 0, "alpha": 0.05}


def sweep_items(step: int, sigma: float, chroma: list[float], inst_acc: list[int]) -> pd.DataFrame:
    n = len(chroma)
    return pd.DataFrame({
        "strategy": f"fixed:{step}", "source": "pia", "target": (["vio", "flu"] * n)[:n], "item": [f"i{j}" for j in range(n)],
        "swap_step": step, "sigma": sigma, "chroma": chroma, "predicted": "vio", "inst_acc": inst_acc,
        "success": [edit_success(a, c, 0.3) for a, c in zip(inst_acc, chroma)],
    })


def test_sweep_table_pools_each_step_and_splits_pairs(tmp_path):
    paths = {}
    for step, sigma, chroma, acc in [(4, 0.5, [0.05, 0.1, 0.2, 0.1], [0, 0, 1, 0]),
                                     (1, 40.0, [0.6, 0.7, 0.5, 0.6], [1, 1, 1, 0])]:
        paths[f"fixed:{step}"] = tmp_path / f"{step}.csv"
        sweep_items(step, sigma, chroma, acc).to_csv(paths[f"fixed:{step}"], index=False)
    table = sweep_table(paths, BOOT)
    pooled = table[table["source"] == "all"]
    assert pooled["step"].tolist() == [1, 4] and pooled["sigma"].tolist() == [40.0, 0.5]  # sorted by step
    assert pooled["n"].tolist() == [4, 4]
    assert pooled["chroma"].tolist() == pytest.approx([0.6, 0.1125])
    assert pooled["inst_acc"].tolist() == pytest.approx([0.75, 0.25])
    assert pooled["success"].tolist() == pytest.approx([0.0, 0.25])
    late = table[(table["step"] == 4) & (table["target"] == "vio")].iloc[0]
    assert late["n"] == 2 and late["chroma"] == pytest.approx(0.125) and late["success"] == pytest.approx(0.5)
    for m in ("chroma", "inst_acc", "success"):
        assert (table[f"{m}_low"] <= table[m] + 1e-12).all() and (table[m] <= table[f"{m}_high"] + 1e-12).all()
    assert len(table) == 2 * (1 + 2)


def test_write_sweep_writes_table_reference_and_figure(sources, tmp_path):
    _, dirs = sources
    paths = {}
    for step in (1, 3):
        paths[f"fixed:{step}"] = tmp_path / f"{step}.csv"
        sweep_items(step, 1.0 / step, [0.5 / step] * 4, [1, 0, 1, 1]).to_csv(paths[f"fixed:{step}"], index=False)
    chroma = {"method": "stft", "sample_rate": 22050, "hop_length": 512}
    out = tmp_path / "tables"
    write_sweep(paths, dirs, out / "sweep.csv", out / "chroma_reference.csv", tmp_path / "fig" / "sweep.png",
                chroma=chroma, bootstrap=BOOT, max_chroma=0.3, steps=5)
    assert pd.read_csv(out / "sweep.csv")["source"].tolist()[:2] == ["all", "all"]
    assert (out / "sweep.md").read_text().startswith("| strategy | step | sigma |")
    reference = pd.read_csv(out / "chroma_reference.csv")
    assert reference["instrument"].tolist() == ["all", "pia", "vio"] and reference["n"].tolist() == [2, 1, 1]
    assert ((reference["chroma"] > 0) & (reference["chroma"] <= 1)).all()  # two seeds: different music
    png = (tmp_path / "fig" / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list((tmp_path / "fig").glob(".*"))  # no temporary file left
