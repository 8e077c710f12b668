"""The whole DAG on a tiny config: the output contract, incremental reruns, and what a
changed strategy setting reruns. Same rules and code paths as the embedded default."""

from __future__ import annotations

import pandas as pd
import pytest

from workflow_runner import Workflow

pytestmark = pytest.mark.slow

EPOCHS = {"epochs": 2, "patience": 2, "batch_size": 4}
TINY = {
    "instruments": ["pia", "vio", "flu"],
    "data": {"clips_per_instrument": 5},
    "model": {"spec": "tiny", "steps": 6, "duration": 1.0},
    "prompts": {"n_per_instrument": 2, "source": "offline"},
    "classifiers": {"student_channels": 4, "teacher": EPOCHS, "distill": EPOCHS, "student_head": EPOCHS,
                    "baseline": EPOCHS},
    "edits": {"strategies": ["difftone", "midpoint", "random", "fixed:2"]},
    "metrics": {"bootstrap": {"n_boot": 50}},
}
PAIRS = [(s, t) for s in TINY["instruments"] for t in TINY["instruments"] if s != t]


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    wf = Workflow(tmp_path_factory.mktemp("dag"), TINY)
    wf.run()
    return wf


def test_the_dag_writes_the_output_contract(wf):
    results = wf.workdir / "results"
    for strategy in ["difftone", "midpoint", "random", "fixed-2"]:
        for s, t in PAIRS:
            swaps = pd.read_csv(results / "edits" / strategy / f"{s}_to_{t}" / "swaps.csv", keep_default_na=False)
            assert len(swaps) == 2  # prompts x seeds of the source instrument
            assert {"item", "prompt_index", "seed", "swap_step", "reason", "trace"} <= set(swaps.columns)
            for name in swaps["audio"]:
                assert (results / "edits" / strategy / f"{s}_to_{t}" / name).is_file()
    fixed = pd.read_csv(results / "edits" / "fixed-2" / "pia_to_vio" / "swaps.csv")
    assert (fixed["swap_step"] == 2).all() and (fixed["nfe"] == 6 - 2).all()

    table2 = pd.read_csv(results / "tables" / "table2_strategies.csv")
    assert table2["method"].tolist() == ["difftone", "midpoint", "random", "fixed:2"]
    assert (table2["n"] == len(PAIRS) * 2).all()
    for metric in ["chroma", "kad", "inst_acc"]:
        assert table2[metric].notna().all()
        assert (table2[f"{metric}_low"] <= table2[metric] + 1e-9).all()
        assert (table2[metric] <= table2[f"{metric}_high"] + 1e-9).all()
    assert (results / "tables" / "table2_strategies.md").read_text().startswith("| method |")
    per_pair = pd.read_csv(results / "tables" / "per_pair.csv")
    assert len(per_pair) == 4 * len(PAIRS)

    table1 = pd.read_csv(results / "tables" / "table1_classifiers.csv")
    assert set(table1["eval_set"]) == {"irmas_val", "generated"}
    generated = table1[table1["eval_set"] == "generated"]
    assert (generated["n"] == 3 * 2).all()  # every source generation, labelled by its prompt


def test_a_finished_run_plans_nothing(wf):
    assert wf.planned_rules() == {}


def test_changing_one_strategy_reruns_only_that_strategy(wf):
    planned = wf.planned_rules(override={"swap": {"no_change_policy": "skip"}})
    assert planned == {"edit_pairs": 1, "score_edits": 1, "table2_strategies": 1, "all": 1}
    planned = wf.planned_rules(override={"edits": {"random_seed": 5}})
    assert planned == {"edit_pairs": 1, "score_edits": 1, "table2_strategies": 1, "all": 1}
