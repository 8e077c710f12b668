"""Table IV (beyond the paper): editing real recordings, the swap strategies beside ZETA.

Each recording is inverted once per source guidance (:func:`difftone.engine.inversion`,
edit-friendly DDPM inversion on the model's own sampler) into a folder of the *same
layout as the source generations* (:mod:`difftone.experiment.items`: ``<code>/items.csv``,
``<item>/source.wav`` = the VAE reconstruction, ``<item>/trajectory/``), so the edits
(:func:`difftone.experiment.edits.run_edits`, the one edit step), the metrics
(:func:`difftone.experiment.scoring.score_edits`: chroma against the reconstruction, the
teacher's top-1, KAD against the target's training clips, source-level bootstrap
intervals) and the table (:func:`difftone.experiment.tables.strategy_table`) are those of
Table II, unchanged. A row of Table IV is ``(strategy, source guidance, target guidance)``:
the swap strategies of Table II at ``real_audio.source_guidance`` -> the edit guidance, and
ZETA's row: ``fixed:round(edit_from * N)`` with ZETA's guidance (3 -> 12 by default).

Recordings: ``real_audio.folder`` (``<code>/<name>.wav``, or IRMAS test clips with their
``.txt`` labels) or the dataset's test split (the embedded default: the rendered
clips no classifier or demo model was trained on). A bad file is skipped, listed in
``rejected.csv`` with its one-line reason; an instrument left with no recording stops the
stage with an error naming the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.audio import AudioError
from difftone.experiment.items import SOURCE_COLUMNS, ExperimentError, check_finite
from difftone.experiment.split import SPLIT_COLUMNS
from difftone.experiment.table4 import inversion_label, table4_rows  # noqa: F401  (re-exported)
from difftone.experiment.tables import CHANGED_SUFFIX, load_test_items, strategy_table, write_csv_and_markdown
from difftone.files import atomic_folder
from difftone.instruments import resolve

if TYPE_CHECKING:
    from difftone.models import ModelSettings

log = logging.getLogger(__name__)

RECORDING_COLUMNS = ["instrument", "path"]


def _labels_of(wav: Path, instruments: Sequence[str]) -> list[str]:
    if wav.parent.name in instruments:
        return [wav.parent.name]
    txt = wav.with_suffix(".txt")
    if txt.is_file():  # IRMAS test clips: one instrument code per line
        return sorted({line.strip() for line in txt.read_text().splitlines() if line.strip()})
    return []


def collect_recordings(
    instruments: Sequence[str],
    per_instrument: int,
    *,
    folder: str | Path | None = None,
    index_csv: str | Path | None = None,
) -> pd.DataFrame:
    """The first ``per_instrument`` recordings of each instrument (by path): from ``folder`` (module doc)
    or the test split of ``index_csv``. ExperimentError naming the source when one has none."""
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise ExperimentError(f"real_audio.folder {folder} is not a folder of recordings")
        found = [
            (labels[0], str(p))
            for p in sorted(folder.rglob("*.wav"))
            if len(labels := _labels_of(p, instruments)) == 1 and labels[0] in instruments
        ]
        where = f"real_audio.folder {folder}"
    else:
        from difftone.data import read_index

        index = read_index(index_csv, split="test").sort_values("path")
        found = [(r.instrument, r.path) for r in index.itertuples() if r.instrument in instruments]
        where = f"the test split of {index_csv}"
    df = pd.DataFrame(found, columns=RECORDING_COLUMNS)
    missing = [c for c in instruments if not (df["instrument"] == c).any()]
    if missing:
        raise ExperimentError(
            f"{where} has no single-instrument recording of {', '.join(missing)}: add some or "
            "remove the instrument from `instruments`"
        )
    return df.groupby("instrument", sort=False).head(int(per_instrument)).reset_index(drop=True)


def invert_recordings(
    recordings: pd.DataFrame,
    out_dir: str | Path,
    *,
    model: ModelSettings | Mapping | str,
    classifier: str | Path,
    steps: int,
    source_guidance: float,
    target_guidance: float,
    template: str,
    seed: int = 0,
    peak: float = 0.5,
    silence_db: float = -60.0,
    max_silent_fraction: float = 0.9,
) -> pd.DataFrame:
    """Invert every recording (``instrument``, ``path``) into ``out_dir/<code>/`` (the sources layout, plus a
    ``recording`` column); bad files go to ``out_dir/rejected.csv``. The folder appears whole or not at all.
    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec)."""
    from difftone.classifiers import load_latent_classifier
    from difftone.engine import Editor
    from difftone.models import ModelSettings
    from difftone.real_audio import invert_recording, load_recording, source_prompt

    model = ModelSettings.of(model)
    backbone = model.load()
    editor = Editor(backbone, classifier=load_latent_classifier(classifier, device=model.device), progress=False)
    rows, rejected = [], []
    with atomic_folder(out_dir) as tmp:
        counts: dict[str, int] = {}
        for r in tqdm(recordings.itertuples(), total=len(recordings), desc="invert recordings", unit="clip"):
            try:
                rec = load_recording(
                    r.path, backbone, peak=peak, silence_db=silence_db, max_silent_fraction=max_silent_fraction
                )
            except AudioError as exc:
                log.warning("skipped: %s", exc)
                rejected.append({"path": r.path, "instrument": r.instrument, "reason": exc.reason})
                continue
            i = counts[r.instrument] = counts.get(r.instrument, -1) + 1
            prompt = source_prompt(resolve(r.instrument).name, None, template)
            traj = invert_recording(
                editor, rec, prompt, steps, source_guidance, seed=seed, target_guidance_scale=target_guidance
            )
            item = f"{r.instrument}-r{i:03d}"
            check_finite(traj.latents, f"the inverted latents of {r.path}")
            folder = tmp / r.instrument / item
            traj.save(folder / "trajectory")
            audio.write(folder / "source.wav", traj.audio.numpy(), traj.sample_rate, subtype="FLOAT")
            rows.append(
                {
                    "item": item,
                    "instrument": r.instrument,
                    "prompt_index": i,
                    "seed": seed,
                    "prompt": prompt,
                    "audio": str(Path(item) / "source.wav"),
                    "trajectory": str(Path(item) / "trajectory"),
                    "top1_final": traj.trace.top1[-1] if traj.trace is not None else "",
                    "recording": r.path,
                }
            )
        items = pd.DataFrame(rows, columns=[*SOURCE_COLUMNS, "recording"])
        missing = sorted(set(recordings["instrument"]) - set(items["instrument"]))
        if missing:
            raise ExperimentError(
                f"no usable recording of {', '.join(missing)} (see the warnings above): "
                "replace the files or remove the instrument from `instruments`"
            )
        for code, group in items.groupby("instrument"):
            group.to_csv(tmp / code / "items.csv", index=False)
        pd.DataFrame(rejected, columns=["path", "instrument", "reason"]).to_csv(tmp / "rejected.csv", index=False)
        # every recording is a test item (nothing is tuned on them): the split the tables read
        items.assign(part="test")[SPLIT_COLUMNS].to_csv(tmp / "split.csv", index=False)
    log.info(
        "inverted %d recording(s) at source guidance %g (%d rejected): %d NFE",
        len(items),
        source_guidance,
        len(rejected),
        editor.nfe,
    )
    return items


def write_table4(
    rows: Mapping[str, Mapping],
    items_csvs: Mapping[str, str | Path],
    skipped_csvs: Mapping[str, str | Path],
    nfe_jsons: Mapping[str, str | Path],
    embeddings: Mapping[str, str | Path],
    split_csvs: Mapping[str, str | Path],
    reference_npz: str | Path,
    out_csv: str | Path,
    bootstrap: Mapping,
    kad_bandwidth="candidate",
) -> pd.DataFrame:
    """Table IV: Table II's function (:func:`strategy_table`, on the edits every row of a group made) per group
    of rows (``group``: the clips, or the long recordings and their passages), with each row's method and
    guidance. ``split_csvs``: row slug -> its sources folder's ``split.csv`` (every recording a test item)."""
    tables = []
    for group in dict.fromkeys(row.get("group", "clips") for row in rows.values()):
        slugs = [s for s in rows if rows[s].get("group", "clips") == group]
        items, skipped, excluded = load_test_items(
            {s: items_csvs[s] for s in slugs}, {s: skipped_csvs[s] for s in slugs}, split_csvs[slugs[0]]
        )
        tables.append(
            strategy_table(
                items,
                skipped,
                excluded,
                nfe_jsons,
                bootstrap,
                embeddings=embeddings,
                reference_npz=reference_npz,
                kad_bandwidth=kad_bandwidth,
            )
        )
    table = pd.concat(tables, ignore_index=True)
    slugs = [m[: -len(CHANGED_SUFFIX)] if m.endswith(CHANGED_SUFFIX) else m for m in table["method"]]
    table.insert(1, "source_guidance", [float(rows[s]["source_guidance"]) for s in slugs])
    table.insert(2, "target_guidance", [float(rows[s]["target_guidance"]) for s in slugs])
    table["method"] = [rows[s]["method"] + m[len(s) :] for s, m in zip(slugs, table["method"])]
    write_csv_and_markdown(table, out_csv)
    return table


# -- long recordings and passages: the clips of an instrument joined, edited by difftone.long_audio -----------------
def join_clips(paths: Sequence[str | Path], out_path: str | Path) -> list[float]:
    """Write the clips ``paths`` one after another into ``out_path`` (their samples as they are, float);
    returns each clip's ``[start, end]`` seconds in it. ExperimentError naming the clip whose rate or channels
    differ from the first's."""
    import numpy as np
    import soundfile as sf

    waves, rate, bounds, t = [], None, [], 0.0
    for p in paths:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
        if rate is None:
            rate, channels = sr, data.shape[1]
        elif sr != rate or data.shape[1] != channels:
            raise ExperimentError(
                f"{p} is {sr} Hz, {data.shape[1]} channel(s), {paths[0]} {rate} Hz, {channels}: "
                "the clips of a long recording must share rate and channels"
            )
        waves.append(data)
        bounds.append([t, t + len(data) / sr])
        t += len(data) / sr
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out_path), np.concatenate(waves), rate, subtype="FLOAT")
    return bounds


def edit_long(
    recordings: pd.DataFrame,
    rows: Mapping[str, Mapping],
    sources_root: str | Path,
    edits_root: str | Path,
    *,
    model: ModelSettings | Mapping | str,
    classifier: str | Path,
    real_audio: Mapping,
    options: Mapping[str, object],
    steps: int,
    targets: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Table IV's long rows (:func:`difftone.experiment.table4.long_rows`): per instrument of ``recordings``
    (the sources, :func:`difftone.experiment.table4.long_instruments`), its first ``real_audio.long.clips``
    recordings (``recordings``: :func:`collect_recordings`) joined into one file, then
    :func:`difftone.long_audio.edit_recording` of it into every other instrument of ``targets`` (default: the
    recordings' instruments; the workflow: every configured instrument): the whole file (kind
    ``long``) or the middle clip only (``passage``), per row with its strategy and guidance. The rows that
    invert the same windows with the same source guidance share one inversion per recording
    (:class:`difftone.long_audio.SharedInversions`: the edits are those of separate inversions, bit for bit).

    Writes the layout of the other rows, so that the scoring and the table read them unchanged: the sources
    folder ``sources_root/<row sources>/`` (``<code>/items.csv``; ``<code>/<item>/input.wav``, the joined clips;
    ``source.wav``, the windowed round trip at the input's rate and length; ``edit.json``, the windows and
    the passage; ``split.csv``: every item a test item) and the edits ``edits_root/<slug>/<pair>/{<item>.wav,
    swaps.csv}``, ``nfe.json`` (the inversion's NFE not counted, as for the other rows; its denoiser calls
    are, in the row that ran it). ``options``: slug -> its :class:`~difftone.engine.EditOptions`. Returns each
    row's swaps."""
    import contextlib
    import dataclasses
    import json

    from difftone.classifiers import load_latent_classifier
    from difftone.engine import Editor, strategy_spec
    from difftone.experiment.items import pair_name
    from difftone.long_audio import LongSettings, SharedInversions, edit_recording, write_exact
    from difftone.models import ModelSettings
    from difftone.real_audio import load_recording, source_prompt

    clips = int(real_audio["long"]["clips"])
    instruments = list(dict.fromkeys(recordings["instrument"]))
    short = [c for c in instruments if (recordings["instrument"] == c).sum() < clips]
    if clips < 1 or short:
        raise ExperimentError(
            f"real_audio.long.clips is {clips} but {', '.join(short) or 'none'} has fewer "
            "recordings: lower it or give more recordings"
        )
    targets = instruments if targets is None else list(dict.fromkeys(targets))
    model = ModelSettings.of(model)
    backbone = model.load()
    latent = load_latent_classifier(classifier, device=model.device)
    editor = Editor(backbone, classifier=latent, progress=False)
    settings = LongSettings.from_config(real_audio)
    sources_root, edits_root = Path(sources_root), Path(edits_root)
    row_options = {}
    for slug, row in rows.items():
        row_options[slug] = options[slug]
        if strategy_spec(row["strategy"]).probe_classifier:
            row_options[slug] = dataclasses.replace(options[slug], probe_classifier=latent)
    items = {slug: [] for slug in rows}
    swaps: dict[str, dict] = {slug: {} for slug in rows}
    nfe = {slug: 0 for slug in rows}  # the edits' (the table's NFE per edit, as for the other rows)
    calls = {slug: 0 for slug in rows}  # every denoiser call, a shared inversion's in the row that ran it
    with contextlib.ExitStack() as stack:
        tmps = {slug: stack.enter_context(atomic_folder(sources_root / row["sources"])) for slug, row in rows.items()}
        for source in tqdm(instruments, desc="long recordings", unit="recording"):
            paths = list(recordings.loc[recordings["instrument"] == source, "path"].head(clips))
            item = f"{source}-long"
            prompt = source_prompt(resolve(source).name, None, real_audio["source_prompt"])
            into = [t for t in targets if t != source]
            if not into:
                raise ExperimentError(
                    f"no instrument to edit the long recording of {source} into: targets are "
                    f"{', '.join(targets)}; add another to `instruments`"
                )
            rec = inversions = None
            for slug, row in rows.items():
                folder = tmps[slug] / source / item
                bounds = join_clips(paths, folder / "input.wav")
                if rec is None:  # one recording for every row, its inversions shared where they are the same
                    rec = load_recording(
                        folder / "input.wav",
                        backbone,
                        peak=real_audio["peak"],
                        silence_db=real_audio["silence_db"],
                        max_silent_fraction=real_audio["max_silent_fraction"],
                        max_seconds=real_audio["max_seconds"],
                    )
                    inversions = SharedInversions(editor, rec)
                middle = bounds[len(bounds) // 2]
                start, end = middle if row["kind"] == "passage" else (None, None)
                nfe0, calls0 = editor.nfe, editor.calls
                result = edit_recording(
                    editor,
                    rec,
                    prompt,
                    source,
                    into,
                    row["strategy"],
                    settings,
                    steps=steps,
                    source_guidance=row["source_guidance"],
                    target_guidance=row["target_guidance"],
                    seed=int(real_audio["seed"]),
                    start=start,
                    end=end,
                    options=row_options[slug],
                    item=item,
                    inversions=inversions,
                )
                nfe[slug] += editor.nfe - nfe0 - (result.nfe_inversion if result.inverted_here else 0)
                calls[slug] += editor.calls - calls0
                write_exact(folder / "source.wav", result.reconstruction, result.sample_rate, result.subtype)
                (folder / "edit.json").write_text(
                    json.dumps(
                        {
                            **result.info(),
                            "clips": paths,
                            "clip_seconds": bounds,
                            "nfe_inversion": result.nfe_inversion,
                            "inversion_shared": not result.inverted_here,
                            "steps": {e.target: e.windows for e in result.edits},
                        },
                        indent=1,
                        default=str,
                    )
                    + "\n"
                )
                items[slug].append(
                    {
                        "item": item,
                        "instrument": source,
                        "prompt_index": 0,
                        "seed": int(real_audio["seed"]),
                        "prompt": prompt,
                        "audio": str(Path(item) / "source.wav"),
                        "trajectory": "",
                        "top1_final": "",
                        "recording": " + ".join(map(str, paths)),
                        "passage": "" if start is None else f"{start:g}-{end:g}",
                    }
                )
                for edit, wave in zip(result.edits, result.outputs):
                    name = ""
                    if wave is not None:
                        check_finite(wave, f"the {row['kind']} edit of {item} to {edit.target} ({slug})")
                        name = f"{item}.wav"
                        write_exact(
                            edits_root / slug / pair_name(source, edit.target) / name,
                            wave,
                            result.sample_rate,
                            result.subtype,
                        )
                    swaps[slug].setdefault((source, edit.target), []).append(
                        {
                            "item": item,
                            "prompt_index": 0,
                            "seed": int(real_audio["seed"]),
                            "source_prompt": prompt,
                            "target_prompt": edit.target_prompt,
                            "swap_step": "" if edit.swap_step is None else int(edit.swap_step),
                            "sigma": edit.sigma,
                            "reason": edit.reason,
                            "audio": name,
                            "nfe": edit.nfe,
                            "probe_nfe": edit.probe_nfe,
                            "fallback": bool(edit.fallback),
                            "trace": "",
                        }
                    )
        for slug, tmp in tmps.items():
            df = pd.DataFrame(items[slug], columns=[*SOURCE_COLUMNS, "recording", "passage"])
            for code, group in df.groupby("instrument"):
                group.to_csv(tmp / code / "items.csv", index=False)
            df.assign(part="test")[SPLIT_COLUMNS].to_csv(tmp / "split.csv", index=False)
    out: dict[str, pd.DataFrame] = {}
    for slug, row in rows.items():
        out[slug] = _write_long_row(edits_root / slug, row, len(items[slug]), swaps[slug], nfe[slug], calls[slug])
    return out


def _write_long_row(folder: Path, row: Mapping, sources: int, swaps: Mapping, nfe: int, calls: int) -> pd.DataFrame:
    """One long row's ``<pair>/swaps.csv`` and ``nfe.json`` under ``folder``; returns its swaps."""
    import json

    from difftone.experiment.items import SWAP_COLUMNS, pair_name

    frames = []
    for (source, target), records in swaps.items():
        table = pd.DataFrame(records, columns=SWAP_COLUMNS)
        (folder / pair_name(source, target)).mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / pair_name(source, target) / "swaps.csv", index=False)
        frames.append(table.assign(source=source, target=target))
    counts = {
        "strategy": row["strategy"],
        "sources": sources,
        "edits": sum(len(r) for r in swaps.values()),
        "nfe": nfe,
        "probe_nfe": int(sum(r["probe_nfe"] for v in swaps.values() for r in v)),
        "denoiser_calls": calls,
    }
    (folder / "nfe.json").write_text(json.dumps(counts, indent=1) + "\n")
    log.info("%s: %d edits of %d joined recordings, %d NFE", folder.name, counts["edits"], sources, nfe)
    return pd.concat(frames, ignore_index=True)
