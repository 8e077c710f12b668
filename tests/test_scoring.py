"""The scoring functions' values (difftone.experiment.scoring): per-item rows and per-pair
summaries against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from difftone.experiment.scoring import ITEM_COLUMNS, PAIR_COLUMNS, item_row, pair_summary
from difftone.metrics import kad

BOOT = {"n_boot": 400, "seed": 0, "alpha": 0.05}


def test_item_row_scores_inst_acc_and_success():
    row = item_row("difftone", "pia", "vio", "pia-p000-s0", 3, 0.5, 0.2, "vio", max_chroma=0.3)
    assert list(row) == ITEM_COLUMNS
    assert (row["inst_acc"], row["success"]) == (1.0, 1.0)
    assert item_row("difftone", "pia", "vio", "x", 3, 0.5, 0.3, "vio", 0.3)["success"] == 1.0  # at the threshold
    missed = item_row("difftone", "pia", "vio", "x", 3, 0.5, 0.1, "pia", 0.3)  # content kept, instrument not
    assert (missed["inst_acc"], missed["success"], missed["predicted"]) == (0.0, 0.0, "pia")
    changed = item_row("difftone", "pia", "vio", "x", 3, 0.5, 0.31, "vio", 0.3)  # instrument reached, music changed
    assert (changed["inst_acc"], changed["success"]) == (1.0, 0.0)
    assert math.isnan(row["judge_acc"]) and row["judge_predicted"] == ""  # no judge
    judged = item_row(
        "difftone", "pia", "vio", "x", 3, 0.5, 0.2, "vio", 0.3, judged="pia", fallback=True, reason="policy midpoint"
    )
    assert (judged["judge_predicted"], judged["judge_acc"], judged["fallback"]) == ("pia", 0.0, True)
    assert judged["inst_acc"] == 1.0  # the teacher and the judge may disagree


def _rows(max_chroma=0.5):
    # chroma 0.2, 0.4, 0.6; the teacher hears vio, pia, vio -> inst_acc 1, 0, 1; success 1, 0, 0
    return [
        item_row("s", "pia", "vio", f"i{k}", step, 0.1 * k, c, p, max_chroma)
        for k, (step, c, p) in enumerate([(2, 0.2, "vio"), (3, 0.4, "pia"), (4, 0.6, "vio")])
    ]


def test_pair_summary_means_and_intervals():
    out = pair_summary("s", "pia", "vio", _rows(), 1, [], [], None, BOOT)
    assert set(out) == set(PAIR_COLUMNS)
    assert (out["n"], out["skipped"]) == (3, 1)
    assert out["swap_step_mean"] == pytest.approx(3.0)
    assert out["chroma"] == pytest.approx(0.4)
    assert out["inst_acc"] == pytest.approx(2 / 3) and out["success"] == pytest.approx(1 / 3)
    for metric in ("chroma", "inst_acc", "success"):
        assert out[f"{metric}_low"] <= out[metric] <= out[f"{metric}_high"]
    # resamples of three 0/1 outcomes have means in {0, 1/3, 2/3, 1}; of chroma, within [0.2, 0.6]
    for bound in (out["inst_acc_low"], out["inst_acc_high"], out["success_low"], out["success_high"]):
        assert bound * 3 == pytest.approx(round(bound * 3))
    assert 0.2 <= out["chroma_low"] < 0.4 < out["chroma_high"] <= 0.6
    assert math.isnan(out["kad"]) and math.isnan(out["kad_low"])  # no reference: no KAD


def test_pair_summary_kad_is_the_kad_of_the_pairs_embeddings():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(12, 8))
    embs = [rng.normal(1.0, 1.0, size=(2, 8)) for _ in range(3)]  # two CLAP windows per edit
    groups = [np.full(2, i) for i in range(3)]
    out = pair_summary("s", "pia", "vio", _rows(), 0, embs, groups, reference, BOOT)
    assert out["kad"] == pytest.approx(kad(reference, np.concatenate(embs)))
    assert out["kad"] > 0 and out["kad_low"] <= out["kad"] <= out["kad_high"]


def test_pair_summary_of_a_pair_with_no_or_one_edit():
    empty = pair_summary("s", "pia", "vio", [], 4, [], [], None, BOOT)
    assert (empty["n"], empty["skipped"]) == (0, 4)
    assert all(math.isnan(empty[c]) for c in PAIR_COLUMNS if c not in ("strategy", "source", "target", "n", "skipped"))
    one = pair_summary("s", "pia", "vio", _rows()[:1], 0, [np.ones((2, 8))], [np.zeros(2)], np.eye(8), BOOT)
    assert (one["chroma"], one["chroma_low"], one["chroma_high"]) == (0.2, 0.2, 0.2)  # one value: degenerate CI
    assert math.isnan(one["kad"])  # KAD needs two edits


def test_kad_interval_holds_its_value_and_is_left_empty_for_small_sets():
    """Edits of several CLAP windows: a resample of few edits over-weights the pairs within one edit, which put
    Table II's KAD below its own interval; sets of fewer than KAD_MIN_ITEMS edits get no interval."""
    from difftone.experiment.tables import KAD_MIN_ITEMS, kad_with_interval

    rng = np.random.default_rng(0)

    def one_set(n_items):
        centres = rng.normal(size=(n_items, 8))
        cand = np.repeat(centres, 3, axis=0) + 0.05 * rng.normal(size=(3 * n_items, 8))  # 3 windows per edit
        return rng.normal(size=(40, 8)) + 0.5, cand, np.repeat([f"s{i}" for i in range(n_items)], 3)

    boot = {"n_boot": 300, "seed": 0, "alpha": 0.05}
    value, low, high = kad_with_interval([one_set(KAD_MIN_ITEMS - 7)], "candidate", boot)
    assert np.isfinite(value) and np.isnan(low) and np.isnan(high)
    value, low, high = kad_with_interval([one_set(27), one_set(27)], "candidate", boot)
    assert low <= value <= high
