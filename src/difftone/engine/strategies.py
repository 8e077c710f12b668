"""Swap-step strategies: small functions of the source trajectory's classifier trace.

A strategy maps a :class:`SwapContext` to ``(swap_step, reason)``: steps ``0..k-1``
use the source prompt, steps ``k..N-1`` the target prompt (k = 0: a plain generation
from the target prompt; k = N: the source unchanged). ``swap_step`` is ``None`` when
the item is skipped (the ``skip`` no-change policy). Strategy names may take one
argument after a colon (``fixed:12``, ``sigma:0.7``). Add one with::

    @register_strategy("last_sigma_above")
    def last_sigma_above(ctx: SwapContext) -> tuple[int | None, str]:
        ...

A strategy registered with ``needs_probe=True`` may also call ``ctx.probe(k)``: the
latent classifier's probabilities (IRMAS code -> p) on x0_hat of the *target* prompt,
evaluated on the source's noisy latent x_k. Each call costs one guided denoiser
evaluation, which the caller counts; the caller must provide ``probe`` and
``target`` (:class:`difftone.engine.probe.TargetProbe`, as ``experiment/edits.py`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from difftone.engine.trajectory import Trace

NO_CHANGE_POLICIES = ("midpoint", "skip", "no_edit")


class StrategyError(ValueError):
    """Unknown strategy, bad argument, or a strategy that needs a trace without one."""


Probe = Callable[[int], "dict[str, float]"]


@dataclass
class SwapContext:
    trace: Trace | None
    steps: int
    rng: np.random.Generator
    arg: str | None = None
    no_change_policy: str = "midpoint"
    sigmas: list[float] = field(default_factory=list)
    target: str | None = None  # IRMAS code of the edit's target instrument
    probe: Probe | None = None  # step k -> classifier probabilities on the target prompt's x0_hat at x_k


StrategyFn = Callable[[SwapContext], tuple["int | None", str]]
STRATEGIES: dict[str, StrategyFn] = {}
PROBE_STRATEGIES: set[str] = set()


def register_strategy(name: str, needs_probe: bool = False) -> Callable[[StrategyFn], StrategyFn]:
    def register(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        if needs_probe:
            PROBE_STRATEGIES.add(name)
        else:
            PROBE_STRATEGIES.discard(name)
        return fn

    return register


def parse_strategy(strategy: str) -> tuple[str, str | None]:
    name, _, arg = strategy.partition(":")
    if name not in STRATEGIES:
        raise StrategyError(
            f"unknown swap strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))} (fixed:K, sigma:S, probe:P, agree:R)"
        )
    return name, (arg or None)


def needs_probe(strategy: str) -> bool:
    """Whether ``strategy`` runs extra denoiser evaluations (``ctx.probe``) to choose its step."""
    return parse_strategy(strategy)[0] in PROBE_STRATEGIES


def choose_swap_step(
    strategy: str,
    trace: Trace | None,
    steps: int,
    rng: np.random.Generator | int | None = None,
    no_change_policy: str = "midpoint",
    sigmas: list[float] | None = None,
    target: str | None = None,
    probe: Probe | None = None,
) -> tuple[int | None, str]:
    """The swap step for ``strategy`` (``difftone``, ``midpoint``, ``random``, ``fixed:K``, ``sigma:S``,
    ``probe[:P]``, ``agree[:R]``, ``none``) and why. ``target`` and ``probe``: for probe strategies (see the module doc)."""
    name, arg = parse_strategy(strategy)
    if name in PROBE_STRATEGIES and (probe is None or target is None):
        raise StrategyError(f"strategy {strategy!r} probes the target prompt: it needs a probe "
                            "(difftone.engine.TargetProbe: an editor, and for `probe` a latent classifier) "
                            "and the target instrument")
    if no_change_policy not in NO_CHANGE_POLICIES:
        raise StrategyError(f"swap.no_change_policy must be one of {', '.join(NO_CHANGE_POLICIES)}, not {no_change_policy!r}")
    if steps < 2:
        raise StrategyError(f"steps must be at least 2, got {steps}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ctx = SwapContext(trace, steps, rng, arg, no_change_policy, list(sigmas or []), target, probe)
    return STRATEGIES[name](ctx)


@register_strategy("difftone")
def difftone_strategy(ctx: SwapContext) -> tuple[int | None, str]:
    """The last step where the classifier's top-1 on x0_hat changes (Diff-TONE)."""
    if ctx.trace is None:
        raise StrategyError("strategy 'difftone' needs the classifier trace of the source generation (a classifier)")
    changes = ctx.trace.change_steps()
    if changes:
        k = changes[-1]
        top1 = ctx.trace.top1
        return k, f"last top-1 change at step {k} ({top1[k - 1]} -> {top1[k]}; {len(changes)} change(s))"
    only = ctx.trace.top1[0] if ctx.trace.steps else "none"
    return _no_change(ctx, f"classifier top-1 never changed ({only} at all {ctx.trace.steps} steps)")


def _no_change(ctx: SwapContext, why: str) -> tuple[int | None, str]:
    """``swap.no_change_policy`` when a classifier-driven strategy finds no step."""
    if ctx.no_change_policy == "midpoint":
        return ctx.steps // 2, f"{why}; policy midpoint: step {ctx.steps // 2}"
    if ctx.no_change_policy == "no_edit":
        return ctx.steps, f"{why}; policy no_edit: the source is kept (step {ctx.steps})"
    return None, f"{why}; policy skip: no edit"


@register_strategy("midpoint")
def midpoint_strategy(ctx: SwapContext) -> tuple[int, str]:
    return ctx.steps // 2, f"midpoint of {ctx.steps} steps"


@register_strategy("random")
def random_strategy(ctx: SwapContext) -> tuple[int, str]:
    """Uniform over the steps 1..N-1 (neither a plain regeneration nor no edit)."""
    k = int(ctx.rng.integers(1, ctx.steps))
    return k, f"random step in [1, {ctx.steps - 1}]"


@register_strategy("fixed")
def fixed_strategy(ctx: SwapContext) -> tuple[int, str]:
    try:
        k = int(ctx.arg) if ctx.arg is not None else None
    except ValueError:
        k = None
    if k is None or not 0 <= k <= ctx.steps:
        raise StrategyError(f"strategy fixed:K needs an integer K in [0, {ctx.steps}], got {ctx.arg!r}")
    return k, f"fixed step {k}"


@register_strategy("sigma")
def sigma_strategy(ctx: SwapContext) -> tuple[int, str]:
    """The first step whose noise level sigma_k is <= S (``sigma:S``): the same noise level at any
    number of steps. S below the last sigma swaps at step N (no edit)."""
    try:
        s = float(ctx.arg) if ctx.arg is not None else None
    except ValueError:
        s = None
    if s is None or not s >= 0:
        raise StrategyError(f"strategy sigma:S needs a noise level S >= 0, e.g. sigma:0.7, got {ctx.arg!r}")
    if len(ctx.sigmas) < ctx.steps:
        raise StrategyError(f"strategy sigma:{ctx.arg} needs the {ctx.steps} sigmas of the schedule")
    for k in range(ctx.steps):
        if ctx.sigmas[k] <= s:
            return k, f"first step with sigma <= {s:g}: step {k} (sigma {ctx.sigmas[k]:.4g})"
    return ctx.steps, f"no step has sigma <= {s:g} (last {ctx.sigmas[ctx.steps - 1]:.4g}): the source is kept"


@register_strategy("probe", needs_probe=True)
def probe_strategy(ctx: SwapContext) -> tuple[int | None, str]:
    """The latest step at which the target prompt, run once on the source's noisy latent x_k, already
    predicts a clean latent that the classifier reads as the target instrument (``probe`` or ``probe:P``,
    P = the least probability of the target, default: top-1).

    Scans back from step N-1 and stops at the first such step, so choosing step k costs N-k probe
    evaluations (as many as the edit itself). Why: the paper's rule reads the *source* prompt's x0_hat,
    which with guidance names the prompted instrument from the first step on; the target prompt's x0_hat
    on the source's x_k asks the question that matters: can the target prompt still turn this music
    into the target instrument? Late steps keep the most content, so the latest such step wins.
    If no step qualifies, ``swap.no_change_policy`` applies (recorded).
    """
    try:
        min_p = float(ctx.arg) if ctx.arg is not None else None
    except ValueError:
        min_p = -1.0
    if min_p is not None and not 0.0 < min_p <= 1.0:
        raise StrategyError(f"strategy probe:P needs a probability P in (0, 1], got {ctx.arg!r}")
    for k in range(ctx.steps - 1, -1, -1):
        probs = ctx.probe(k)
        top1 = max(probs, key=probs.get)
        p = probs.get(ctx.target, 0.0)
        if (top1 == ctx.target) if min_p is None else p >= min_p:
            return k, (f"latest step where the target prompt's x0_hat reads {ctx.target} "
                       f"(p {p:.2f}{'' if min_p is None else f' >= {min_p:g}'}): step {k}, {ctx.steps - k} probe(s)")
    return _no_change(ctx, f"the target prompt's x0_hat never read {ctx.target} (probed all {ctx.steps} steps)")


@register_strategy("agree", needs_probe=True)
def agree_strategy(ctx: SwapContext) -> tuple[int | None, str]:
    """The earliest step from which the source and target prompts agree on the music for the rest of
    the run (``agree`` or ``agree:R``, R = 0.3 by default): the target prompt is run once on the
    source's noisy latent x_k, and the prompts agree at k when its x0_hat differs from the source
    prompt's x0_hat by at most R times the difference at step 0 (RMS, the prompt's full effect).

    Early, each prompt's x0_hat is its own average music and they differ completely; late, both are
    the source's x_k and agree. From the step where they agree, the content is fixed by the noisy
    latent rather than by the prompt, so a swap there keeps the music, and it is the earliest such
    step, so the target prompt has as many steps as possible to change the instrument. No classifier
    is read (the paper's failure: the source's x0_hat names the source instrument from step 0).
    Scans back from step N-1: costs N-k+1 probe evaluations (+1 for step 0).
    """
    try:
        ratio = float(ctx.arg) if ctx.arg is not None else 0.3
    except ValueError:
        ratio = -1.0
    if not 0.0 < ratio < 1.0:
        raise StrategyError(f"strategy agree:R needs a ratio R in (0, 1), got {ctx.arg!r}")
    full = ctx.probe.prompt_effect(0)
    if not full > 0:
        return _no_change(ctx, "the target prompt does not change x0_hat at step 0 (same prompt?)")
    for k in range(ctx.steps - 1, 0, -1):
        effect = ctx.probe.prompt_effect(k)
        if effect > ratio * full:
            step = k + 1
            return step, (f"prompts agree from step {step} on (target prompt's x0_hat within {ratio:g} of its "
                          f"step-0 effect; step {k}: {effect / full:.2f}); {ctx.steps - k + 1} probe(s)")
    return 1, f"prompts agree from step 1 on (ratio {ratio:g}); {ctx.steps} probe(s)"


@register_strategy("none")
def none_strategy(ctx: SwapContext) -> tuple[int, str]:
    return ctx.steps, "no swap: the source generation"
