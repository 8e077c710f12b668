"""Experiment stages on tiny components: sources, edits, scoring and tables, and their bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from difftone.engine import Trajectory
from difftone.experiment import edits as edits_module
from difftone.experiment.edits import edit_rng, run_edits
from difftone.experiment.items import ExperimentError, check_finite, read_table, strategy_slug
from difftone.experiment.scoring import SKIPPED_COLUMNS, edit_success
from difftone.experiment.sources import generate_sources, generated_set, read_sources
from difftone.experiment.split import part_items, split_sources
from difftone.experiment.sweep import sweep_table, write_sweep
from difftone.experiment.tables import write_tables

SETTINGS = dict(seeds=[0, 1], steps=5, duration=0.5, guidance_scale=4.0, batch_size=2)


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tiny_classifier_dir):
    root = tmp_path_factory.mktemp("exp")
    dirs = {}
    for code, prompt in [("pia", "A soft piano melody"), ("vio", "A bright violin tune")]:
        (root / f"{code}.txt").write_text(prompt + "\n")
        dirs[code] = root / "sources" / code
        generate_sources(
            root / f"{code}.txt", code, dirs[code], model="tiny", classifier=tiny_classifier_dir, **SETTINGS
        )
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
    assert sorted(swaps[["source", "target"]].drop_duplicates().itertuples(index=False)) == [
        ("pia", "vio"),
        ("vio", "pia"),
    ]
    table = pd.read_csv(tmp_path / "pia_to_vio" / "swaps.csv")
    assert table["target_prompt"].tolist() == ["A soft violin melody"] * 2
    assert (table["swap_step"] == 3).all() and (table["nfe"] == 2).all()
    nfe = json.loads((tmp_path / "nfe.json").read_text())
    # the 2 sources of an instrument resume at step 3 in one batch (edits.batch_size): 2 calls per instrument
    assert nfe == {"strategy": "fixed:3", "sources": 4, "edits": 4, "nfe": 8, "probe_nfe": 0, "denoiser_calls": 4}
    one_by_one = run_edits("fixed:3", dirs, ["pia", "vio"], tmp_path / "one", model="tiny", sources_per_batch=1)
    assert json.loads((tmp_path / "one" / "nfe.json").read_text())["denoiser_calls"] == 8
    assert np.allclose(one_by_one["swap_step"], swaps["swap_step"])
    assert (table["probe_nfe"] == 0).all()


def test_probe_edits_count_their_probes_per_edit_and_in_nfe_json(sources, tiny_classifier_dir, tmp_path):
    _, dirs = sources
    with pytest.raises(ExperimentError, match="probes the target prompt with the latent classifier"):
        run_edits("probe", dirs, ["pia", "vio"], tmp_path, model="tiny")
    swaps = run_edits("probe", dirs, ["pia", "vio"], tmp_path, model="tiny", classifier=tiny_classifier_dir)
    n = SETTINGS["steps"]
    for r in swaps.itertuples():
        found = "latest step" in r.reason
        assert r.probe_nfe == (n - r.swap_step if found else n)  # scanned back to the step, or every step
        assert r.nfe == n - r.swap_step + r.probe_nfe
    nfe = json.loads((tmp_path / "nfe.json").read_text())
    assert nfe["probe_nfe"] == swaps["probe_nfe"].sum() > 0
    assert nfe["nfe"] == swaps["nfe"].sum()  # every denoiser evaluation is some edit's


def test_probe_edits_read_x0_hat_with_the_configured_windowing(sources, tiny_classifier_dir, tmp_path, monkeypatch):
    import difftone.classifiers as classifiers
    from difftone.classifiers.windows import Windowing

    _, dirs = sources
    real, seen = classifiers.load_latent_classifier, []

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        seen.append(model.windowing)
        return model

    monkeypatch.setattr(classifiers, "load_latent_classifier", spy)
    window = {"hop": 0.25, "aggregate": "mean_logits"}
    run_edits(
        "probe",
        dirs,
        ["pia", "vio"],
        tmp_path,
        model="tiny",
        classifier=tiny_classifier_dir,
        max_sources=1,
        window=window,
    )
    assert seen == [Windowing(0.25, "mean_logits")]


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
    real_edit = edits_module.Editor.edit_at  # run_edits batches the sources of a job together

    def nan_edit(self, trajectories, target_prompts, swap_steps):
        return [
            [torch.full_like(w, float("nan")) for w in waves]
            for waves in real_edit(self, trajectories, target_prompts, swap_steps)
        ]

    monkeypatch.setattr(edits_module.Editor, "edit_at", nan_edit)
    with pytest.raises(ExperimentError, match=r"the edit of pia-p000-s0 to vio \(midpoint\) contains NaN"):
        run_edits("midpoint", dirs, ["pia", "vio"], tmp_path, model="tiny")


def test_nan_in_latents_stops_with_the_item_named():
    with pytest.raises(ExperimentError, match="the latents of source pia-p000-s0 contains NaN"):
        check_finite(torch.tensor([1.0, float("nan")]), "the latents of source pia-p000-s0")


def test_an_empty_edit_set_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "swaps.csv"
    pd.DataFrame(columns=["item", "swap_step"]).to_csv(path, index=False)
    with pytest.raises(ExperimentError, match=r"swaps\.csv has no rows; rerun the edit stage"):
        read_table(path, ["item", "swap_step"], "edit")
    path.write_text("")
    with pytest.raises(ExperimentError, match=r"swaps\.csv is empty"):
        read_table(path, ["item"], "edit")


def test_generated_set_labels_each_source_by_its_prompt_instrument(sources, tmp_path):
    _, dirs = sources
    df = generated_set([dirs["pia"], dirs["vio"]], tmp_path / "generated.csv")
    assert df["instrument"].tolist() == ["pia", "pia", "vio", "vio"]
    assert all(p.endswith("source.wav") for p in df["path"])


def edit_items(strategy, items, targets, chroma, inst_acc, fallback=False, swap_step=2):
    """A strategy's items.csv rows: one per (item, target), in that order."""
    keys = [(i, t) for i in items for t in targets]
    n = len(keys)
    chroma = chroma if isinstance(chroma, list) else [chroma] * n
    inst_acc = inst_acc if isinstance(inst_acc, list) else [inst_acc] * n
    fallback = fallback if isinstance(fallback, list) else [fallback] * n
    return pd.DataFrame(
        {
            "strategy": strategy,
            "source": "pia",
            "target": [t for _, t in keys],
            "item": [i for i, _ in keys],
            "swap_step": swap_step,
            "sigma": 1.0,
            "chroma": chroma,
            "predicted": "vio",
            "inst_acc": inst_acc,
            "success": [edit_success(a, c, 0.3) for a, c in zip(inst_acc, chroma)],
            "judge_predicted": "vio",
            "judge_acc": inst_acc,
            "fallback": fallback,
            "reason": "r",
        }
    )


def write_strategy(tmp_path, strategy, items, skipped=()):
    folder = tmp_path / strategy
    folder.mkdir()
    items.to_csv(folder / "items.csv", index=False)
    pd.DataFrame(
        [{"strategy": strategy, "source": "pia", "target": t, "item": i, "reason": "policy skip"} for i, t in skipped],
        columns=SKIPPED_COLUMNS,
    ).to_csv(folder / "skipped.csv", index=False)
    (folder / "nfe.json").write_text(json.dumps({"nfe": 12, "edits": 6, "probe_nfe": 3}))
    return folder


def write_split(tmp_path, tuning, test):
    pd.DataFrame(
        [{"item": i, "instrument": "pia", "part": "tuning"} for i in tuning]
        + [{"item": i, "instrument": "pia", "part": "test"} for i in test]
    ).to_csv(tmp_path / "split.csv", index=False)
    return tmp_path / "split.csv"


def _tables(tmp_path, folders, split):
    out = tmp_path / "tables"
    table = write_tables(
        {s: f / "items.csv" for s, f in folders.items()},
        {s: f / "skipped.csv" for s, f in folders.items()},
        {s: f / "nfe.json" for s, f in folders.items()},
        split,
        out / "table2.csv",
        out / "per_pair.csv",
        out / "paired.csv",
        BOOT,
    )
    return table.set_index("method"), pd.read_csv(out / "per_pair.csv"), pd.read_csv(out / "paired.csv")


def test_table2_reads_only_test_sources_and_counts_sources_edits_fallbacks(tmp_path):
    targets = ["vio", "flu"]
    # t0 is a tuning source with absurd values: any trace of it in Table II would show
    dt = pd.concat(
        [
            edit_items("difftone", ["t0"], targets, 0.9, 0),
            edit_items(
                "difftone",
                ["a", "b", "c"],
                targets,
                [0.1, 0.1, 0.2, 0.2, 0.5, 0.5],
                1,
                fallback=[False, False, True, True, False, False],
            ),
        ]
    )
    mid = pd.concat(
        [
            edit_items("midpoint", ["t0"], targets, 0.9, 0),
            edit_items("midpoint", ["a", "b", "c"], targets, 0.4, [0, 0, 1, 1, 0, 0]),
        ]
    )
    split = write_split(tmp_path, ["t0"], ["a", "b", "c"])
    folders = {
        "difftone": write_strategy(tmp_path, "difftone", dt),
        "midpoint": write_strategy(tmp_path, "midpoint", mid),
    }
    table, per_pair, paired = _tables(tmp_path, folders, split)
    row = table.loc["difftone"]
    assert row["sources"] == 3 and row["edits"] == 6 and row["fallbacks"] == 2 and row["skipped"] == 0
    assert row["chroma"] == pytest.approx(1.6 / 6)  # t0's 0.9 is not in it
    changed = table.loc["difftone (changed)"]
    assert changed["edits"] == 4 and changed["fallbacks"] == 0 and changed["chroma"] == pytest.approx(1.2 / 4)
    assert set(per_pair["n"]) == {3} and (per_pair["strategy"] != "t0").all()
    # paired: difftone - midpoint chroma per edit, the same edits
    d = paired[(paired["strategy"] == "difftone") & (paired["baseline"] == "midpoint") & (paired["metric"] == "chroma")]
    assert d["difference"].iloc[0] == pytest.approx(1.6 / 6 - 0.4) and d["edits"].iloc[0] == 6
    assert d["sources"].iloc[0] == 3 and d["excludes_zero"].iloc[0] in (True, False)
    assert set(paired["baseline"]) == {"difftone", "midpoint"}
    assert (tmp_path / "tables" / "paired.md").read_text().startswith("| strategy | baseline | metric |")


def test_table2_compares_every_strategy_on_the_items_difftone_did_not_skip(tmp_path):
    targets = ["vio", "flu"]
    dt = edit_items("difftone", ["a", "b"], targets, 0.1, 1)  # c skipped for both targets
    mid = edit_items("midpoint", ["a", "b", "c"], targets, [0.2, 0.2, 0.2, 0.2, 0.8, 0.8], 1)
    split = write_split(tmp_path, ["t0"], ["a", "b", "c"])
    folders = {
        "difftone": write_strategy(tmp_path, "difftone", dt, skipped=[("c", "vio"), ("c", "flu"), ("t0", "vio")]),
        "midpoint": write_strategy(tmp_path, "midpoint", mid),
    }
    table, _, _ = _tables(tmp_path, folders, split)
    assert table.loc["difftone", "skipped"] == 2  # t0 is a tuning source: not counted
    assert table.loc["midpoint", "edits"] == 4 and table.loc["midpoint", "excluded"] == 2
    assert table.loc["midpoint", "chroma"] == pytest.approx(0.2)  # c's 0.8 left out with difftone's skip


def test_source_split_is_disjoint_seeded_per_instrument_and_the_sweep_refuses_test_items(sources, tmp_path):
    _, dirs = sources
    split = split_sources(dirs, tmp_path / "split.csv", tuning_per_instrument=1, seed=0)
    tuning, test = part_items(tmp_path / "split.csv", "tuning"), part_items(tmp_path / "split.csv", "test")
    assert tuning and test and not tuning & test
    assert tuning | test == {i for d in dirs.values() for i in read_sources(d)["item"]}
    assert split.groupby("instrument")["part"].apply(lambda p: (p == "tuning").sum()).tolist() == [1, 1]
    again = split_sources(dirs, tmp_path / "again.csv", tuning_per_instrument=1, seed=0)
    assert again.equals(split)
    only_pia = split_sources({"pia": dirs["pia"]}, tmp_path / "pia.csv", tuning_per_instrument=1, seed=0)
    assert only_pia.equals(split[split["instrument"] == "pia"].reset_index(drop=True))
    with pytest.raises(ExperimentError, match="no test source would remain"):
        split_sources(dirs, tmp_path / "x.csv", tuning_per_instrument=2)
    # Table II never reads a tuning source: an items table of tuning sources only is an error
    items = edit_items("difftone", sorted(tuning), ["vio"], 0.1, 1)
    folders = {"difftone": write_strategy(tmp_path, "difftone", items)}
    with pytest.raises(ExperimentError, match="none of its .* rows is a test source"):
        _tables(tmp_path, folders, tmp_path / "split.csv")
    path = tmp_path / "sweep_items.csv"
    edit_items("fixed:1", sorted(test), ["vio"], 0.1, 1).to_csv(path, index=False)
    with pytest.raises(ExperimentError, match="non-tuning source"):
        sweep_table({"fixed:1": path}, BOOT, tmp_path / "split.csv")


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
    return pd.DataFrame(
        {
            "strategy": f"fixed:{step}",
            "source": "pia",
            "target": (["vio", "flu"] * n)[:n],
            "item": [f"i{j}" for j in range(n)],
            "swap_step": step,
            "sigma": sigma,
            "chroma": chroma,
            "predicted": "vio",
            "inst_acc": inst_acc,
            "success": [edit_success(a, c, 0.3) for a, c in zip(inst_acc, chroma)],
            "judge_predicted": "",
            "judge_acc": np.nan,
            "fallback": False,
            "reason": "fixed",
        }
    )


def test_sweep_table_pools_each_step_and_splits_pairs(tmp_path):
    paths = {}
    for step, sigma, chroma, acc in [
        (4, 0.5, [0.05, 0.1, 0.2, 0.1], [0, 0, 1, 0]),
        (1, 40.0, [0.6, 0.7, 0.5, 0.6], [1, 1, 1, 0]),
    ]:
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
    write_sweep(
        paths,
        dirs,
        out / "sweep.csv",
        out / "chroma_reference.csv",
        tmp_path / "fig" / "sweep.png",
        chroma=chroma,
        bootstrap=BOOT,
        max_chroma=0.3,
        steps=5,
    )
    assert pd.read_csv(out / "sweep.csv")["source"].tolist()[:2] == ["all", "all"]
    assert (out / "sweep.md").read_text().startswith("| strategy | step | sigma |")
    reference = pd.read_csv(out / "chroma_reference.csv")
    assert reference["instrument"].tolist() == ["all", "pia", "vio"] and reference["n"].tolist() == [2, 1, 1]
    assert ((reference["chroma"] > 0) & (reference["chroma"] <= 1)).all()  # two seeds: different music
    png = (tmp_path / "fig" / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list((tmp_path / "fig").glob(".*"))  # no temporary file left
