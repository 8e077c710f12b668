"""The report stage: it only renders files. Figure 2 of the paper (mel spectrograms of swaps at
several steps, drawn from the audio that the experiment stage's rule ``edit_swap_steps`` writes)
and a self-contained static HTML page of the tables, figures and audio.

``figures.plot_swap_steps``: rule ``plot_swap_steps``: ``results/report/audio/swap_steps/`` ->
``results/figures/swap_steps.png``; ``page.write_report``: rule ``build_report`` ->
``results/report/index.html`` and ``results/report/assets/``; ``examples``: the example pairs
and swap steps (light: the config check imports it while Snakemake parses the workflow).
"""

from difftone.report.examples import DEFAULT_EXAMPLES, example_pairs, swap_steps_of

_LAZY = {"plot_swap_steps": "figures", "git_commit": "page", "local_links": "page", "write_report": "page"}

__all__ = ["DEFAULT_EXAMPLES", "example_pairs", "swap_steps_of", *_LAZY]


def __getattr__(name: str):
    # figures/page import torch, diffusers and matplotlib: only when asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"difftone.report.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'difftone.report' has no attribute {name!r}")
