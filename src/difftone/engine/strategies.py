"""Swap-step strategies: small functions of the source trajectory's classifier trace.

A strategy maps a :class:`SwapContext` to ``(swap_step, reason)``: steps ``0..k-1``
use the source prompt, steps ``k..N-1`` the target prompt (k = 0: a plain generation
from the target prompt; k = N: the source unchanged). ``swap_step`` is ``None`` when
the item is skipped (the ``skip`` no-change policy). Strategy names may take one
argument after a colon (``fixed:12``). Add one with::

    @register_strategy("sigma")
    def sigma_strategy(ctx: SwapContext) -> tuple[int | None, str]:
        ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from difftone.engine.trajectory import Trace

NO_CHANGE_POLICIES = ("midpoint", "skip", "no_edit")


class StrategyError(ValueError):
    """Unknown strategy, bad argument, or a strategy that needs a trace without one."""


@dataclass
class SwapContext:
    trace: Trace | None
    steps: int
    rng: np.random.Generator
    arg: str | None = None
    no_change_policy: str = "midpoint"
    sigmas: list[float] = field(default_factory=list)


StrategyFn = Callable[[SwapContext], tuple["int | None", str]]
STRATEGIES: dict[str, StrategyFn] = {}


def register_strategy(name: str) -> Callable[[StrategyFn], StrategyFn]:
    def register(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        return fn

    return register


def parse_strategy(strategy: str) -> tuple[str, str | None]:
    name, _, arg = strategy.partition(":")
    if name not in STRATEGIES:
        raise StrategyError(f"unknown swap strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))} (fixed:K)")
    return name, (arg or None)


def choose_swap_step(
    strategy: str,
    trace: Trace | None,
    steps: int,
    rng: np.random.Generator | int | None = None,
    no_change_policy: str = "midpoint",
    sigmas: list[float] | None = None,
) -> tuple[int | None, str]:
    """The swap step for ``strategy`` (``difftone``, ``midpoint``, ``random``, ``fixed:K``, ``none``) and why."""
    name, arg = parse_strategy(strategy)
    if no_change_policy not in NO_CHANGE_POLICIES:
        raise StrategyError(f"swap.no_change_policy must be one of {', '.join(NO_CHANGE_POLICIES)}, not {no_change_policy!r}")
    if steps < 2:
        raise StrategyError(f"steps must be at least 2, got {steps}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ctx = SwapContext(trace, steps, rng, arg, no_change_policy, list(sigmas or []))
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
    why = f"classifier top-1 never changed ({only} at all {ctx.trace.steps} steps)"
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


@register_strategy("none")
def none_strategy(ctx: SwapContext) -> tuple[int, str]:
    return ctx.steps, "no swap: the source generation"
