"""Table III: MusicMagus against Diff-TONE on MusicMagus' own instrument pairs.

``run_musicmagus`` edits the sources of each pair's source instrument (the same prompts and
seeds as Diff-TONE's sources) with :func:`difftone.engine.musicmagus.musicmagus_edit`:

- on the sources' own model (``musicmagus.model`` null: the SAO family) it starts from each
  source trajectory's x_0 and compares with its cached latents, so both methods edit the
  same music;
- on another backbone (AudioLDM2, the paper config) it first regenerates each source from
  its prompt and seed on that backbone (its own source, scored against it).

Layout (the edits stage's, so :func:`difftone.experiment.scoring.score_edits` reads it):
``out_dir/<source>_to_<target>/{<item>.wav, swaps.csv}``, ``out_dir/nfe.json`` and the
sources the edits are scored against, ``out_dir/sources/<code>/items.csv``.
Only the test sources of ``results/sources/split.csv`` are edited (Table II's part; the
tuning sources belong to the sweep). ``table3`` then puts one row per method (MusicMagus and
the Diff-TONE strategies whose existing edits of the same sources and pairs it reads:
``difftone``, ``midpoint``) and pair, plus each method's pooled row, with Table II's
columns and statistics (on the edits every method made; intervals over sources; teacher
``inst_acc`` and judge ``judge_acc``; KAD per pair, pooled as the mean over pairs), and a
paired table (every method minus ``difftone`` per edit, source-level intervals).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.captions import read_captions
from difftone.engine import Editor, Trajectory
from difftone.engine.musicmagus import MusicMagusError, MusicMagusSettings, check_captions, musicmagus_edit
from difftone.experiment.items import SOURCE_COLUMNS, SWAP_COLUMNS, ExperimentError, check_finite, pair_name, read_table
from difftone.experiment.scoring import ITEM_COLUMNS
from difftone.experiment.sources import read_sources
from difftone.experiment.split import restrict_to_part
from difftone.experiment.tables import (
    PAIRED_COLUMNS,
    TABLE2_COLUMNS,
    _boot,
    _kad_sets,
    _strategy_row,
    load_test_items,
    paired_table,
    write_csv_and_markdown,
)
from difftone.metrics import load_embeddings
from difftone.models import ModelSettings

log = logging.getLogger(__name__)

METHOD = "musicmagus"
BASELINE = "difftone"
TABLE3_COLUMNS = ["method", "pair", "source", "target", *TABLE2_COLUMNS[1:]]
TABLE3_PAIRED_COLUMNS = ["pair", *PAIRED_COLUMNS]


def check_pairs(pairs: Sequence[Sequence[str]], instruments: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        s, t = pair
        for code in (s, t):
            if code not in instruments:
                raise ExperimentError(
                    f"musicmagus.pairs: {code} of {s}->{t} is not in instruments "
                    f"({', '.join(instruments)}); add it or drop the pair"
                )
        if s == t:
            raise ExperimentError(f"musicmagus.pairs: {s}->{t} edits an instrument into itself")
        out.append((s, t))
    return out


def run_musicmagus(
    sources_dirs: Mapping[str, str | Path],
    pairs: Sequence[Sequence[str]],
    captions_dir: str | Path,
    out_dir: str | Path,
    *,
    model: ModelSettings | Mapping | str,
    settings: MusicMagusSettings,
    sources_model: str,
    steps: int | None = None,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    max_sources: int | None = None,
    split_csv: str | Path | None = None,
) -> pd.DataFrame:
    """Edit each pair's sources with MusicMagus on ``model`` (module docstring); returns every swaps row.

    ``model``: MusicMagus's model (:class:`difftone.models.ModelSettings`, its dict, or a spec);
    ``sources_model``: the spec the sources were generated with.

    ``split_csv``: the tuning/test split (:mod:`difftone.experiment.split`); only test sources are edited
    (Table III, like Table II, reads only those); ``max_sources``: then at most the first this many."""
    out_dir = Path(out_dir)
    pairs = [(s, t) for s, t in pairs]
    captions = read_captions(captions_dir, sorted({c for p in pairs for c in p}))
    for s, t in pairs:
        check_captions(captions, s, t, where=str(captions_dir))
    model = ModelSettings.of(model)
    backbone = model.load()
    if negative_prompt is not None and hasattr(backbone, "negative_prompt"):
        backbone.negative_prompt = negative_prompt
    editor = Editor(backbone, progress=False)
    same_model = model.spec == str(sources_model)
    frames, source_rows = [], {}
    for source, target in pairs:
        items = read_sources(sources_dirs[source])
        if split_csv is not None:
            items = restrict_to_part(items, split_csv, "test", f"the sources of {source} ({sources_dirs[source]})")
        if max_sources:
            items = items.head(int(max_sources))
        rows = []
        for row in tqdm(items.itertuples(), total=len(items), desc=f"musicmagus {source}->{target}", unit="source"):
            traj = Trajectory.load(row.trajectory)
            if not same_model:
                traj = editor.generate(
                    traj.prompt,
                    traj.seed,
                    steps or traj.steps,
                    traj.duration,
                    guidance_scale if guidance_scale is not None else traj.guidance_scale,
                )
            src_audio = _source_audio(out_dir, source, row, traj, same_model)
            source_rows.setdefault(source, {})[row.item] = {**row._asdict(), "audio": src_audio}
            edit = musicmagus_edit(editor, traj, source, target, captions, settings, synonyms=synonyms)
            check_finite(edit.audio, f"the MusicMagus edit of {row.item} to {target}")
            name = f"{row.item}.wav"
            audio.write(out_dir / pair_name(source, target) / name, edit.audio.numpy(), traj.sample_rate)
            rows.append(
                {
                    "item": row.item,
                    "prompt_index": int(row.prompt_index),
                    "seed": traj.seed,
                    "source_prompt": traj.prompt,
                    "target_prompt": edit.target_prompt,
                    "swap_step": 0,
                    "sigma": float(traj.sigmas[0]),
                    "reason": "musicmagus",
                    "audio": name,
                    "nfe": edit.nfe,
                    "probe_nfe": 0,
                    "fallback": False,
                    "trace": json.dumps(edit.losses),
                }
            )
        if not rows:
            raise ExperimentError(f"no sources of {source} to edit for MusicMagus ({sources_dirs[source]})")
        df = pd.DataFrame(rows, columns=SWAP_COLUMNS)
        df.to_csv(out_dir / pair_name(source, target) / "swaps.csv", index=False)
        frames.append(df.assign(source=source, target=target))
    for source, items in source_rows.items():
        folder = out_dir / "sources" / source
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(list(items.values()), columns=SOURCE_COLUMNS).to_csv(folder / "items.csv", index=False)
    edits = sum(len(f) for f in frames)
    nfe = {
        "strategy": METHOD,
        "model": model.spec,
        "sources": len({i for v in source_rows.values() for i in v}),
        "edits": edits,
        "nfe": editor.nfe,
        "probe_nfe": 0,
        "denoiser_calls": editor.calls,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
    }
    (out_dir / "nfe.json").write_text(json.dumps(nfe, indent=1) + "\n")
    log.info("musicmagus on %s: %d edits, %d NFE", model.spec, edits, editor.nfe)
    return pd.concat(frames, ignore_index=True)


def _source_audio(out_dir: Path, source: str, row, traj: Trajectory, same_model: bool) -> str:
    """The audio the edit is scored against: the source's own file, or the regenerated source's."""
    if same_model:
        return str(Path(row.audio).resolve())
    path = out_dir / "sources" / source / f"{row.item}.wav"
    audio.write(path, traj.audio.numpy(), traj.sample_rate)
    return str(path.resolve())


def _pair_items(items: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]]) -> dict[str, pd.DataFrame]:
    keep = set(pairs)
    return {
        m: df[[k in keep for k in zip(df["source"], df["target"])]].reset_index(drop=True) for m, df in items.items()
    }


def table3_items(
    items_csvs: Mapping[str, str | Path],
    skipped_csvs: Mapping[str, str | Path],
    split_csv: str | Path,
    pairs: Sequence[Sequence[str]],
):
    """Per method: its test-part edits of ``pairs`` that every method made (Table II's
    :func:`~difftone.experiment.tables.load_test_items`), its skipped test items of ``pairs``, and how many of
    its test edits of ``pairs`` another method's skips excluded."""
    wanted = [tuple(p) for p in pairs]
    all_items, skipped, _ = load_test_items(items_csvs, skipped_csvs, split_csv)
    items = _pair_items(all_items, wanted)
    for method, df in items.items():
        missing = [f"{s}->{t}" for s, t in wanted if not ((df["source"] == s) & (df["target"] == t)).any()]
        if missing:
            raise ExperimentError(
                f"{items_csvs[method]} has no test edit of {', '.join(missing)} that every method "
                f"of Table III ({', '.join(items_csvs)}) made: rerun the {method} edits with those "
                "pairs' instruments"
            )
    excluded = {}
    for method, path in items_csvs.items():
        own = read_table(path, ITEM_COLUMNS, f"metrics ({method})")
        own = _pair_items({method: restrict_to_part(own, split_csv, "test", str(path))}, wanted)[method]
        excluded[method] = len(own) - len(items[method])
    skipped = _pair_items(skipped, wanted)
    return items, skipped, excluded


def table3(
    items_csvs: Mapping[str, str | Path],
    skipped_csvs: Mapping[str, str | Path],
    split_csv: str | Path,
    pairs: Sequence[Sequence[str]],
    bootstrap: Mapping,
    *,
    nfe_jsons: Mapping[str, str | Path] | None = None,
    embeddings: Mapping[str, str | Path] | None = None,
    reference_npz: str | Path | None = None,
    kad_bandwidth: str | float | None = "candidate",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table III and its paired comparisons on the test sources of ``pairs``.

    Table III: per method (keys of ``items_csvs``, in order) one row per pair, then its pooled row
    (``pair`` = all), with Table II's columns and statistics (:func:`~difftone.experiment.tables._strategy_row`:
    means with source-level cluster-bootstrap intervals, teacher ``inst_acc`` and judge ``judge_acc``, KAD of a
    pair with its source-level interval, pooled as the mean over pairs). Paired: every method against
    ``difftone`` per pair and pooled (:func:`~difftone.experiment.tables.paired_table`)."""
    items, skipped, excluded = table3_items(items_csvs, skipped_csvs, split_csv, pairs)
    boot = _boot(bootstrap)
    reference = load_embeddings(reference_npz)[:2] if embeddings and reference_npz else None
    nfe_jsons = nfe_jsons or {}
    rows, paired = [], []
    for method, df in items.items():
        nfe = json.loads(Path(nfe_jsons[method]).read_text()) if method in nfe_jsons else None
        sets, set_pairs = (
            _kad_sets(df, embeddings[method], reference, by=("source", "target")) if reference is not None else ([], [])
        )
        sk = skipped[method]
        for s, t in [tuple(p) for p in pairs]:
            g = df[(df["source"] == s) & (df["target"] == t)]
            n_skipped = int(((sk["source"] == s) & (sk["target"] == t)).sum()) if len(sk) else 0
            own_sets = [k for k, p in zip(sets, set_pairs) if p == (s, t)]
            row = _strategy_row(
                method, g, boot, skipped=n_skipped, excluded=0, nfe=None, kad_sets=own_sets, kad_bandwidth=kad_bandwidth
            )
            rows.append({**row, "pair": pair_name(s, t), "source": s, "target": t, "excluded": np.nan})
        row = _strategy_row(
            method,
            df,
            boot,
            skipped=len(sk),
            excluded=excluded[method],
            nfe=nfe,
            kad_sets=sets,
            kad_bandwidth=kad_bandwidth,
        )
        rows.append({**row, "pair": "all", "source": "", "target": ""})
    for s, t in [tuple(p) for p in pairs]:
        one = {m: df[(df["source"] == s) & (df["target"] == t)] for m, df in items.items()}
        paired.append(paired_table(one, bootstrap, baselines=(BASELINE,)).assign(pair=pair_name(s, t)))
    paired.append(paired_table(items, bootstrap, baselines=(BASELINE,)).assign(pair="all"))
    return (pd.DataFrame(rows, columns=TABLE3_COLUMNS), pd.concat(paired, ignore_index=True)[TABLE3_PAIRED_COLUMNS])


def write_table3(items_csvs, skipped_csvs, split_csv, pairs, table_csv, paired_csv, bootstrap, **kad) -> pd.DataFrame:
    """Table III and its paired comparisons (CSV + Markdown)."""
    table, paired = table3(items_csvs, skipped_csvs, split_csv, pairs, bootstrap, **kad)
    write_csv_and_markdown(table, table_csv)
    write_csv_and_markdown(paired, paired_csv)
    return table


__all__ = [
    "MusicMagusError",
    "TABLE3_COLUMNS",
    "TABLE3_PAIRED_COLUMNS",
    "check_pairs",
    "run_musicmagus",
    "table3",
    "table3_items",
    "write_table3",
]
