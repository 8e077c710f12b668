"""The edits of the paper's Figure 2: one source per example pair swapped at several denoising steps.

Rule ``edit_swap_steps`` (``workflow/rules/edits.smk``): for each (source, target) example
pair the first source item of the source instrument (first prompt and seed) is edited at
the swap steps ``round(f * N)`` of ``report.swap_steps`` through the edit step
(:func:`difftone.engine.edit`, strategy ``fixed:K``). The report stage draws the
mel spectrograms from these files (:func:`difftone.report.figures.plot_swap_steps`) and
links the audio; it loads no model.

Too early a swap (step 0 is a generation from the target prompt with the same seed) changes
the music; too late (step N returns the source) changes nothing.

Audio folder layout (``audio_dir``, written to a temporary folder and renamed)::

    swap_steps.csv                 one row per panel (MANIFEST_COLUMNS); ``audio`` relative to audio_dir
    <source>_to_<target>/source.wav
    <source>_to_<target>/step_<k:03d>.wav
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from difftone import audio
from difftone.engine import EditOptions, Editor, Trajectory, edit
from difftone.experiment.items import check_finite, pair_name, sigma_of
from difftone.experiment.sources import read_sources
from difftone.files import atomic_folder
from difftone.report.examples import swap_steps_of

log = logging.getLogger(__name__)

MANIFEST = "swap_steps.csv"
MANIFEST_COLUMNS = [
    "source",
    "target",
    "item",
    "kind",
    "prompt",
    "target_prompt",
    "swap_step",
    "steps",
    "sigma",
    "audio",
    "trace",
]


def edit_swap_steps(
    sources_dirs: Mapping[str, str | Path],
    examples: Sequence[tuple[str, str]],
    audio_dir: str | Path,
    *,
    model,
    fractions: Sequence[float],
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Edit one source per example pair at the swap steps ``round(f * N)`` of ``fractions``.

    ``sources_dirs``: instrument -> source-generation folder (its first item is the example);
    ``model``: the generative model (:class:`difftone.models.ModelSettings`, its dict, or a spec), or a
    loaded backbone. Writes
    ``audio_dir`` (module docstring); returns the manifest.
    """
    from difftone.models import ModelSettings

    if not examples:
        raise ValueError("figure 2 needs at least one (source, target) example pair (report.examples)")
    loaded = not isinstance(model, (str, Mapping, ModelSettings))
    backbone = model if loaded else ModelSettings.of(model).load()
    editor = Editor(backbone, progress=False)
    audio_dir = Path(audio_dir)
    rows: list[dict] = []
    with atomic_folder(audio_dir) as tmp:
        for source, target in tqdm(list(examples), desc="figure 2 edits", unit="pair"):
            _edit_example(editor, sources_dirs[source], source, target, fractions, synonyms, tmp, rows)
        manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
        manifest.to_csv(tmp / MANIFEST, index=False)
    log.info("figure 2: %d pair(s), %d files -> %s", len(examples), len(rows), audio_dir)
    return manifest


def _edit_example(
    editor: Editor, sources_dir, source: str, target: str, fractions, synonyms, out: Path, rows: list[dict]
) -> None:
    """Edit the first source item of ``sources_dir`` at every swap step; append its manifest rows."""
    item = read_sources(sources_dir).iloc[0]
    traj = Trajectory.load(item["trajectory"])
    n = traj.steps
    options = EditOptions(synonyms=synonyms)
    edits = [
        edit(editor, traj, source, [target], f"fixed:{k}", options, item=item["item"])[0]
        for k in swap_steps_of(fractions, n)
    ]
    folder = out / pair_name(source, target)
    trace = json.dumps(traj.trace.to_dict()) if traj.trace is not None else ""  # the report draws it (plot_trace)
    target_prompt = edits[0].target_prompt
    base = {
        "source": source,
        "target": target,
        "item": item["item"],
        "prompt": traj.prompt,
        "target_prompt": target_prompt,
        "steps": n,
        "trace": trace,
    }
    entries = [("source", None, traj.audio)] + [("swap", e.swap_step, e.audio) for e in edits]
    for kind, k, wave in entries:
        check_finite(wave, f"the figure 2 edit of {item['item']} to {target} at step {k}")
        name = "source.wav" if k is None else f"step_{k:03d}.wav"
        audio.write(folder / name, wave.numpy(), traj.sample_rate)
        rows.append(
            {
                **base,
                "kind": kind,
                "swap_step": "" if k is None else k,
                "sigma": sigma_of(traj.sigmas, k),
                "audio": f"{pair_name(source, target)}/{name}",
            }
        )
