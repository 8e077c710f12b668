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
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.audio import AudioError
from difftone.experiment.items import SOURCE_COLUMNS, ExperimentError, check_finite
from difftone.experiment.split import SPLIT_COLUMNS
from difftone.experiment.tables import CHANGED_SUFFIX, load_test_items, strategy_table, write_csv_and_markdown
from difftone.files import atomic_folder
from difftone.experiment.table4 import inversion_label, table4_rows  # noqa: F401  (re-exported)
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


def collect_recordings(instruments: Sequence[str], per_instrument: int, *, folder: str | Path | None = None,
                       index_csv: str | Path | None = None) -> pd.DataFrame:
    """The first ``per_instrument`` recordings of each instrument (by path): from ``folder`` (module doc)
    or the test split of ``index_csv``. ExperimentError naming the source when one has none."""
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise ExperimentError(f"real_audio.folder {folder} is not a folder of recordings")
        found = [(labels[0], str(p)) for p in sorted(folder.rglob("*.wav"))
                 if len(labels := _labels_of(p, instruments)) == 1 and labels[0] in instruments]
        where = f"real_audio.folder {folder}"
    else:
        from difftone.data import read_index

        index = read_index(index_csv, split="test").sort_values("path")
        found = [(r.instrument, r.path) for r in index.itertuples() if r.instrument in instruments]
        where = f"the test split of {index_csv}"
    df = pd.DataFrame(found, columns=RECORDING_COLUMNS)
    missing = [c for c in instruments if not (df["instrument"] == c).any()]
    if missing:
        raise ExperimentError(f"{where} has no single-instrument recording of {', '.join(missing)}: add some or "
                              "remove the instrument from `instruments`")
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
                rec = load_recording(r.path, backbone, peak=peak, silence_db=silence_db,
                                     max_silent_fraction=max_silent_fraction)
            except AudioError as exc:
                log.warning("skipped: %s", exc)
                rejected.append({"path": r.path, "instrument": r.instrument, "reason": exc.reason})
                continue
            i = counts[r.instrument] = counts.get(r.instrument, -1) + 1
            prompt = source_prompt(resolve(r.instrument).name, None, template)
            traj = invert_recording(editor, rec, prompt, steps, source_guidance, seed=seed,
                                    target_guidance_scale=target_guidance)
            item = f"{r.instrument}-r{i:03d}"
            check_finite(traj.latents, f"the inverted latents of {r.path}")
            folder = tmp / r.instrument / item
            traj.save(folder / "trajectory")
            audio.write(folder / "source.wav", traj.audio.numpy(), traj.sample_rate, subtype="FLOAT")
            rows.append({"item": item, "instrument": r.instrument, "prompt_index": i, "seed": seed, "prompt": prompt,
                         "audio": str(Path(item) / "source.wav"), "trajectory": str(Path(item) / "trajectory"),
                         "top1_final": traj.trace.top1[-1] if traj.trace is not None else "", "recording": r.path})
        items = pd.DataFrame(rows, columns=[*SOURCE_COLUMNS, "recording"])
        missing = sorted(set(recordings["instrument"]) - set(items["instrument"]))
        if missing:
            raise ExperimentError(f"no usable recording of {', '.join(missing)} (see the warnings above): "
                                  "replace the files or remove the instrument from `instruments`")
        for code, group in items.groupby("instrument"):
            group.to_csv(tmp / code / "items.csv", index=False)
        pd.DataFrame(rejected, columns=["path", "instrument", "reason"]).to_csv(tmp / "rejected.csv", index=False)
        # every recording is a test item (nothing is tuned on them): the split the tables read
        items.assign(part="test")[SPLIT_COLUMNS].to_csv(tmp / "split.csv", index=False)
    log.info("inverted %d recording(s) at source guidance %g (%d rejected): %d NFE", len(items), source_guidance,
             len(rejected), editor.nfe)
    return items


def write_table4(rows: Mapping[str, Mapping], items_csvs: Mapping[str, str | Path],
                 skipped_csvs: Mapping[str, str | Path], nfe_jsons: Mapping[str, str | Path],
                 embeddings: Mapping[str, str | Path], split_csv: str | Path, reference_npz: str | Path,
                 out_csv: str | Path, bootstrap: Mapping, kad_bandwidth="candidate") -> pd.DataFrame:
    """Table IV: Table II's function (:func:`strategy_table`, on the edits every row made) per row slug, with
    the row's method and guidance. ``split_csv``: an inversion's ``split.csv`` (every recording a test item)."""
    items, skipped, excluded = load_test_items(items_csvs, skipped_csvs, split_csv)
    table = strategy_table(items, skipped, excluded, nfe_jsons, bootstrap, embeddings=embeddings,
                           reference_npz=reference_npz, kad_bandwidth=kad_bandwidth)
    slugs = [m[: -len(CHANGED_SUFFIX)] if m.endswith(CHANGED_SUFFIX) else m for m in table["method"]]
    table.insert(1, "source_guidance", [float(rows[s]["source_guidance"]) for s in slugs])
    table.insert(2, "target_guidance", [float(rows[s]["target_guidance"]) for s in slugs])
    table["method"] = [rows[s]["method"] + m[len(s):] for s, m in zip(slugs, table["method"])]
    write_csv_and_markdown(table, out_csv)
    return table
