"""Table II (strategies), the per-pair table and the swap-step sweep, as CSV and Markdown.

Table II per strategy: ``chroma`` and ``inst_acc`` are means over every edit with a
percentile bootstrap interval over edits; ``kad`` is the mean of the per-pair KADs
(each pair's edits against its target's reference set) with a bootstrap interval
over pairs; ``n`` counts edits, ``skipped`` the items a no-change policy skipped,
``nfe_per_edit`` the denoiser evaluations an edit cost on average (probes included;
``probe_nfe_per_edit`` the probes' share); ``success`` the share of edits that kept
the content and reached the target, with a bootstrap interval over edits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from difftone.experiment.items import read_table
from difftone.experiment.scoring import ITEM_COLUMNS, PAIR_COLUMNS
from difftone.metrics import bootstrap_ci

TABLE2_COLUMNS = ["method", "chroma", "chroma_low", "chroma_high", "kad", "kad_low", "kad_high", "inst_acc",
                  "inst_acc_low", "inst_acc_high", "success", "success_low", "success_high", "n", "skipped",
                  "swap_step_mean", "sigma_median", "nfe_per_edit", "probe_nfe_per_edit"]


def write_csv_and_markdown(df: pd.DataFrame, csv_path: str | Path, floatfmt: str = ".3f") -> None:
    """``df`` as CSV and, beside it, as a Markdown table (same name, ``.md``)."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    csv_path.with_suffix(".md").write_text(to_markdown(df, floatfmt) + "\n")


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def strategy_table(items_csvs: Mapping[str, str | Path], pairs_csvs: Mapping[str, str | Path],
                   nfe_jsons: Mapping[str, str | Path], bootstrap: Mapping) -> pd.DataFrame:
    """Table II: one row per strategy (keys of the mappings, in order)."""
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    rows = []
    for strategy in items_csvs:
        items = read_table(items_csvs[strategy], ITEM_COLUMNS, f"metrics ({strategy})")
        pairs = read_table(pairs_csvs[strategy], PAIR_COLUMNS, f"metrics ({strategy})")
        nfe = json.loads(Path(nfe_jsons[strategy]).read_text())
        row = {"method": strategy, "n": len(items), "skipped": int(pairs["skipped"].sum()),
               "swap_step_mean": float(items["swap_step"].astype(float).mean()),
               "sigma_median": float(items["sigma"].astype(float).median()),
               "nfe_per_edit": nfe["nfe"] / max(nfe["edits"], 1),
               "probe_nfe_per_edit": nfe.get("probe_nfe", 0) / max(nfe["edits"], 1)}
        for metric in ("chroma", "inst_acc", "success"):
            row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = bootstrap_ci(items[metric], **boot)
        kads = pairs["kad"].astype(float).dropna()
        if len(kads):
            row["kad"], row["kad_low"], row["kad_high"] = bootstrap_ci(kads, **boot)
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def per_pair_table(pairs_csvs: Sequence[str | Path]) -> pd.DataFrame:
    frames = [read_table(p, PAIR_COLUMNS, "metrics") for p in pairs_csvs]
    return pd.concat(frames, ignore_index=True).sort_values(["strategy", "source", "target"], kind="stable")


def write_tables(items_csvs: Mapping[str, str | Path], pairs_csvs: Mapping[str, str | Path],
                 nfe_jsons: Mapping[str, str | Path], table2_csv: str | Path, per_pair_csv: str | Path,
                 bootstrap: Mapping) -> pd.DataFrame:
    table2 = strategy_table(items_csvs, pairs_csvs, nfe_jsons, bootstrap)
    write_csv_and_markdown(table2, table2_csv)
    write_csv_and_markdown(per_pair_table(list(pairs_csvs.values())), per_pair_csv)
    return table2
