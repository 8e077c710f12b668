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
``table3`` then puts one row per method and pair, plus each method's pooled row
(Table II's statistics: means over edits with bootstrap intervals over edits, i.e. over
sources, one edit per source and pair; KAD per pair, pooled as their mean).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.captions import read_captions
from difftone.engine import Editor, Trajectory
from difftone.engine.musicmagus import MusicMagusError, MusicMagusSettings, check_captions, musicmagus_edit
from difftone.experiment.items import SOURCE_COLUMNS, SWAP_COLUMNS, ExperimentError, check_finite, pair_name, read_table
from difftone.experiment.scoring import ITEM_COLUMNS, PAIR_COLUMNS
from difftone.experiment.sources import read_sources
from difftone.experiment.tables import write_csv_and_markdown
from difftone.metrics import bootstrap_ci

log = logging.getLogger(__name__)

METHOD = "musicmagus"
TABLE3_COLUMNS = ["method", "pair", "source", "target", "n", "chroma", "chroma_low", "chroma_high", "kad", "kad_low",
                  "kad_high", "inst_acc", "inst_acc_low", "inst_acc_high", "success", "success_low", "success_high"]


def check_pairs(pairs: Sequence[Sequence[str]], instruments: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        s, t = pair
        for code in (s, t):
            if code not in instruments:
                raise ExperimentError(f"musicmagus.pairs: {code} of {s}->{t} is not in instruments "
                                      f"({', '.join(instruments)}); add it or drop the pair")
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
    model: str,
    settings: MusicMagusSettings,
    sources_model: str,
    steps: int | None = None,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    max_sources: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> pd.DataFrame:
    """Edit each pair's sources with MusicMagus on ``model`` (module docstring); returns every swaps row."""
    from difftone.models import load_backbone

    out_dir = Path(out_dir)
    pairs = [(s, t) for s, t in pairs]
    captions = read_captions(captions_dir, sorted({c for p in pairs for c in p}))
    for s, t in pairs:
        check_captions(captions, s, t, where=str(captions_dir))
    backbone = load_backbone(model, dtype=dtype, device=device)
    if negative_prompt is not None and hasattr(backbone, "negative_prompt"):
        backbone.negative_prompt = negative_prompt
    editor = Editor(backbone, progress=False)
    same_model = str(model) == str(sources_model)
    frames, source_rows = [], {}
    for source, target in pairs:
        items = read_sources(sources_dirs[source])
        if max_sources:
            items = items.head(int(max_sources))
        rows = []
        for row in tqdm(items.itertuples(), total=len(items), desc=f"musicmagus {source}->{target}", unit="source"):
            traj = Trajectory.load(row.trajectory)
            if not same_model:
                traj = editor.generate_source(traj.prompt, traj.seed, steps or traj.steps, traj.duration,
                                              guidance_scale if guidance_scale is not None else traj.guidance_scale)
            src_audio = _source_audio(out_dir, source, row, traj, same_model)
            source_rows.setdefault(source, {})[row.item] = {**row._asdict(), "audio": src_audio}
            edit = musicmagus_edit(editor, traj, source, target, captions, settings, synonyms=synonyms)
            check_finite(edit.audio, f"the MusicMagus edit of {row.item} to {target}")
            name = f"{row.item}.wav"
            audio.write(out_dir / pair_name(source, target) / name, edit.audio.numpy(), traj.sample_rate)
            rows.append({"item": row.item, "prompt_index": int(row.prompt_index), "seed": traj.seed,
                         "source_prompt": traj.prompt, "target_prompt": edit.target_prompt, "swap_step": 0,
                         "sigma": float(traj.sigmas[0]), "reason": "musicmagus", "audio": name, "nfe": edit.nfe,
                         "probe_nfe": 0, "fallback": False, "trace": json.dumps(edit.losses)})
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
    nfe = {"strategy": METHOD, "model": str(model), "sources": len({i for v in source_rows.values() for i in v}),
           "edits": edits, "nfe": editor.nfe, "probe_nfe": 0, "denoiser_calls": editor.calls,
           "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}}
    (out_dir / "nfe.json").write_text(json.dumps(nfe, indent=1) + "\n")
    log.info("musicmagus on %s: %d edits, %d NFE", model, edits, editor.nfe)
    return pd.concat(frames, ignore_index=True)


def _source_audio(out_dir: Path, source: str, row, traj: Trajectory, same_model: bool) -> str:
    """The audio the edit is scored against: the source's own file, or the regenerated source's."""
    if same_model:
        return str(Path(row.audio).resolve())
    path = out_dir / "sources" / source / f"{row.item}.wav"
    audio.write(path, traj.audio.numpy(), traj.sample_rate)
    return str(path.resolve())


def table3(items_csvs: Mapping[str, str | Path], pairs_csvs: Mapping[str, str | Path],
           pairs: Sequence[Sequence[str]], bootstrap: Mapping) -> pd.DataFrame:
    """One row per method (keys of the mappings) and pair, then each method's pooled row (``pair`` = all)."""
    boot = {"n_boot": bootstrap["n_boot"], "seed": bootstrap["seed"], "alpha": bootstrap["alpha"]}
    wanted = [tuple(p) for p in pairs]
    rows = []
    for method in items_csvs:
        items = read_table(items_csvs[method], ITEM_COLUMNS, f"metrics ({method})")
        per_pair = read_table(pairs_csvs[method], PAIR_COLUMNS, f"metrics ({method})")
        chosen, kads = [], []
        for s, t in wanted:
            sel = items[(items["source"] == s) & (items["target"] == t)]
            if sel.empty:
                raise ExperimentError(f"{items_csvs[method]} has no edits {s}->{t}: rerun the {method} edits with "
                                      "that pair's instruments")
            kad = per_pair[(per_pair["source"] == s) & (per_pair["target"] == t)]
            k = kad.iloc[0] if len(kad) else None
            rows.append(_row(method, f"{s}_to_{t}", s, t, sel, boot, k))
            chosen.append(sel)
            if k is not None and pd.notna(k["kad"]) and k["kad"] != "":
                kads.append(float(k["kad"]))
        pooled = _row(method, "all", "", "", pd.concat(chosen), boot, None)
        if kads:
            pooled["kad"], pooled["kad_low"], pooled["kad_high"] = bootstrap_ci(kads, **boot)
        rows.append(pooled)
    return pd.DataFrame(rows, columns=TABLE3_COLUMNS)


def _row(method, pair, s, t, sel: pd.DataFrame, boot, kad_row) -> dict:
    row = {"method": method, "pair": pair, "source": s, "target": t, "n": len(sel)}
    for metric in ("chroma", "inst_acc", "success"):
        row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = bootstrap_ci(sel[metric].astype(float), **boot)
    if kad_row is not None:
        for c in ("kad", "kad_low", "kad_high"):
            v = kad_row[c]
            row[c] = float(v) if v != "" else float("nan")
    return row


def write_table3(items_csvs, pairs_csvs, pairs, out_csv, bootstrap) -> pd.DataFrame:
    table = table3(items_csvs, pairs_csvs, pairs, bootstrap)
    write_csv_and_markdown(table, out_csv)
    return table


__all__ = ["MusicMagusError", "TABLE3_COLUMNS", "check_pairs", "run_musicmagus", "table3", "write_table3"]
