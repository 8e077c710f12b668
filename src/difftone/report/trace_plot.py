"""The classifier's trace as a picture: where along the denoising run the instrument gets decided.

:func:`plot_trace` draws the latent classifier's probabilities on x0_hat at every step of a
source run, one line per instrument (the most probable ones coloured and labelled, the rest
thin and grey), the noise level sigma of each step along a second step axis, and the swap
step with the reason it was chosen. The studio (``difftone studio``) shows it live; the
report draws it for each Figure 2 source. It loads no model.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from difftone.instruments import INSTRUMENTS

__all__ = ["plot_trace", "trace_arrays"]


def trace_arrays(trace: Any) -> tuple[list[str], np.ndarray]:
    """``(instruments, probs[steps, classes])`` of a :class:`~difftone.engine.Trace` or its ``to_dict()``."""
    if isinstance(trace, Mapping):
        instruments, probs = list(trace["instruments"]), trace["probs"]
    else:
        instruments, probs = list(trace.instruments), trace.probs
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(instruments) or probs.shape[0] < 1:
        raise ValueError(f"a trace needs probabilities [steps, {len(instruments)} instruments], got {probs.shape}")
    return instruments, probs


def _label(code: str) -> str:
    return f"{INSTRUMENTS[code].name} ({code})" if code in INSTRUMENTS else code


def plot_trace(
    trace: Any,
    sigmas: Sequence[float] | None = None,
    swap_step: int | None = None,
    reason: str | None = None,
    *,
    top: int = 3,
    title: str | None = None,
    width: float = 7.0,
):
    """A matplotlib Figure of ``trace`` (a Trace or its dict): probability against step, one line per
    instrument, the ``top`` instruments by their highest probability labelled; ``sigmas`` (the run's
    noise levels, N or N+1 values; default the trace's own) as a second axis over the steps; the swap
    step ``swap_step`` (None: not marked) as a vertical line captioned with ``reason``."""
    from matplotlib.figure import Figure

    instruments, probs = trace_arrays(trace)
    steps = probs.shape[0]
    if sigmas is None and not isinstance(trace, Mapping):
        sigmas = list(getattr(trace, "sigmas", []) or [])
    elif sigmas is None:
        sigmas = list(trace.get("sigmas") or [])
    x = np.arange(steps)
    order = list(np.argsort(-probs.max(axis=0)))
    shown = set(order[: max(0, top)])
    fig = Figure(figsize=(width, 3.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for i in order[::-1]:  # the labelled lines last: on top
        if i in shown:
            ax.plot(x, probs[:, i], lw=2.0, marker="o", ms=3, label=_label(instruments[i]))
            ax.annotate(
                instruments[i],
                (x[-1], probs[-1, i]),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        else:
            ax.plot(x, probs[:, i], lw=0.8, color="0.75")
    ax.set_xlim(-0.5, steps - 0.5 + max(1, steps * 0.06))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("denoising step (0 = pure noise)")
    ax.set_ylabel("P(instrument | x0_hat)")
    ax.grid(alpha=0.3)
    if sigmas is not None and len(sigmas) >= steps:
        ticks = np.unique(np.linspace(0, steps - 1, min(steps, 6)).round().astype(int))
        top_ax = ax.secondary_xaxis("top")
        top_ax.set_xticks(ticks, [f"{float(sigmas[t]):.3g}" for t in ticks])
        top_ax.set_xlabel("noise level σ", fontsize=9)
    if swap_step is not None:
        ax.axvline(
            swap_step - 0.5 if swap_step > 0 else 0, color="crimson", lw=1.5, ls="--", label=f"swap at step {swap_step}"
        )
        if reason:
            fig.text(
                0.01,
                0.0,
                textwrap.fill(f"swap step {swap_step}: {reason}", 110),
                fontsize=8,
                color="crimson",
                va="bottom",
            )
            fig.get_layout_engine().set(rect=(0, 0.08, 1, 0.92))
    ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
