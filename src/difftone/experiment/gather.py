"""One strategy's edits, gathered from its jobs into the layout of the outputs.

Each edit job (``workflow/rules/edits.smk``: rule ``edit_pairs``, one per strategy and
group of source instruments, ``edits.instruments_per_job``: one instrument each on a cluster,
which spreads them) writes ``results/edit_jobs/<strategy>/<job>/`` with its pair folders and its ``nfe.json``.
:func:`gather_edits` hard-links (or copies) the pair folders into
``results/edits/<strategy>/<source>_to_<target>/`` and sums the jobs' NFE counts into
``results/edits/<strategy>/nfe.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from difftone.experiment.items import ExperimentError
from difftone.files import atomic_path, link_tree

log = logging.getLogger(__name__)

SUMMED = ("sources", "edits", "nfe", "probe_nfe", "denoiser_calls")


def gather_edits(job_dirs: Mapping[str | Path, Sequence[str]], out_dir: str | Path) -> dict:
    """Gather the edit jobs ``{job folder: its source instruments}`` into ``out_dir``; return the summed nfe.json."""
    out_dir = Path(out_dir)
    totals: dict = {}
    for job_dir, sources in job_dirs.items():
        job_dir = Path(job_dir)
        nfe_path = job_dir / "nfe.json"
        if not nfe_path.is_file():
            raise ExperimentError(
                f"{job_dir} has no nfe.json: the edit job of {', '.join(sources)} did not finish; rerun it"
            )
        nfe = json.loads(nfe_path.read_text())
        if totals and nfe["strategy"] != totals["strategy"]:
            raise ExperimentError(f"{job_dir} holds edits of {nfe['strategy']}, not {totals['strategy']}")
        totals.setdefault("strategy", nfe["strategy"])
        for key in SUMMED:
            totals[key] = totals.get(key, 0) + int(nfe[key])
        pairs = sorted(
            p for p in job_dir.iterdir() if p.is_dir() and any(p.name.startswith(f"{source}_to_") for source in sources)
        )
        for pair in pairs:
            link_tree(pair, out_dir / pair.name)
        log.info(
            "%s: gathered %d pair folders of %s (%d edits)",
            totals["strategy"],
            len(pairs),
            ", ".join(sources),
            nfe["edits"],
        )
    totals["jobs"] = len(job_dirs)
    with atomic_path(out_dir / "nfe.json") as tmp:
        tmp.write_text(json.dumps(totals, indent=1) + "\n")
    return totals
