"""Swap-step strategies: small functions of the source trajectory's classifier trace, each with a spec.

A strategy maps a :class:`SwapContext` to ``(swap_step, reason)``: steps ``0..k-1``
use the source prompt, steps ``k..N-1`` the target prompt (k = 0: a plain generation
from the target prompt; k = N: the source unchanged). ``swap_step`` is ``None`` when
the item is skipped (the ``skip`` no-change policy). Strategy names may take one
argument after a colon (``fixed:12``, ``sigma:0.7``).

Every strategy describes itself in the registry (:class:`StrategySpec`): whether it reads
the source's classifier trace, whether it probes the target prompt (and whether that probe
reads the latent classifier), how its argument is parsed and checked, which config keys
its choice reads, and whether it can fall back to ``swap.no_change_policy``. Callers ask
the registry (:func:`strategy_spec`, :func:`validate_strategy`) and never branch on a
strategy's name. Add one with::

    @register_strategy("last_sigma_above", arg="S",
                       parse=float_arg("last_sigma_above:S", lambda s: s >= 0, "a noise level S >= 0"))
    def last_sigma_above(ctx: SwapContext) -> tuple[int | None, str]:
        ...   # ctx.arg: the raw argument, ctx.value: the parsed one

A strategy registered with ``needs_probe=True`` gets ``ctx.probe``: a
:class:`difftone.engine.probe.TargetProbe` of the *target* prompt on the source's noisy
latents (``ctx.probe(k)``: the latent classifier's probabilities on its x0_hat at x_k,
with ``probe_classifier=True``; ``ctx.probe.prompt_effect(k)``: how much the target prompt
changes x0_hat). Each evaluation costs one guided denoiser call, which
:func:`difftone.engine.edit_step.edit` counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from difftone.engine.probe import TargetProbe
    from difftone.engine.trajectory import Trace

NO_CHANGE_POLICIES = ("midpoint", "skip", "no_edit")
NO_CHANGE_KEY = "swap.no_change_policy"


class StrategyError(ValueError):
    """Unknown strategy, bad argument, or a strategy that needs a trace without one."""


@dataclass
class SwapContext:
    trace: Trace | None
    steps: int
    rng: np.random.Generator
    arg: str | None = None  # the raw argument after the colon
    no_change_policy: str = "midpoint"
    sigmas: list[float] = field(default_factory=list)
    target: str | None = None  # IRMAS code of the edit's target instrument
    probe: TargetProbe | None = None  # the target prompt's probe (strategies with needs_probe)
    value: Any = None  # the argument as the spec's parser returned it
    fallback: bool = False  # set when swap.no_change_policy decided the step
    source: str | None = None  # IRMAS code of the instrument whose word is swapped (the source)
    options: Mapping[str, Any] = field(default_factory=dict)  # its config keys' values (strategy_options)


StrategyFn = Callable[[SwapContext], tuple["int | None", str]]
ArgParser = Callable[["str | None", "int | None"], Any]  # (raw arg, steps or None) -> value; raises StrategyError


@dataclass(frozen=True)
class StrategySpec:
    """What a strategy needs and reads (the registry's entry)."""

    name: str
    choose: StrategyFn
    needs_trace: bool = False  # reads the source generation's classifier trace (a classifier at generation)
    needs_probe: bool = False  # runs the target prompt on the source's x_k (ctx.probe; extra NFE)
    probe_classifier: bool = False  # its probe reads the latent classifier (ctx.probe(k))
    can_fall_back: bool = False  # may apply swap.no_change_policy (recorded as `fallback`)
    config_keys: tuple[str, ...] = ()  # config keys (dotted) its choice reads
    parse: ArgParser | None = None  # argument parser/validator; None: takes the argument as given
    arg: str = ""  # the argument's name in help texts ("K" for fixed:K); "" if it takes none

    @property
    def needs_classifier(self) -> bool:
        """Whether it needs a latent classifier at all (for the trace, or for its probe)."""
        return self.needs_trace or self.probe_classifier

    @property
    def usage(self) -> str:
        return f"{self.name}:{self.arg}" if self.arg else self.name

    def option_names(self) -> dict[str, str]:
        """Config key -> the option name a job receives (its last component)."""
        return {key: key.rsplit(".", 1)[-1] for key in self.config_keys}


STRATEGIES: dict[str, StrategyFn] = {}
SPECS: dict[str, StrategySpec] = {}


def register_strategy(
    name: str,
    *,
    needs_trace: bool = False,
    needs_probe: bool = False,
    probe_classifier: bool = False,
    can_fall_back: bool = False,
    config_keys: tuple[str, ...] = (),
    parse: ArgParser | None = None,
    arg: str = "",
) -> Callable[[StrategyFn], StrategyFn]:
    """Register a strategy function with its spec (see the module doc). A strategy that can fall back
    reads ``swap.no_change_policy`` (added to its config keys)."""
    if can_fall_back and NO_CHANGE_KEY not in config_keys:
        config_keys = (*config_keys, NO_CHANGE_KEY)

    def register(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        SPECS[name] = StrategySpec(
            name,
            fn,
            needs_trace,
            needs_probe or probe_classifier,
            probe_classifier,
            can_fall_back,
            tuple(config_keys),
            parse,
            arg,
        )
        return fn

    return register


def parse_strategy(strategy: str) -> tuple[str, str | None]:
    name, _, arg = str(strategy).partition(":")
    if name not in STRATEGIES:
        usages = ", ".join(sorted(_spec_of(n).usage for n in STRATEGIES))
        raise StrategyError(f"unknown swap strategy {strategy!r}; known: {usages}")
    return name, (arg or None)


def _spec_of(name: str) -> StrategySpec:
    if name not in SPECS or SPECS[name].choose is not STRATEGIES[name]:  # registered by assignment to STRATEGIES
        SPECS[name] = StrategySpec(name, STRATEGIES[name])
    return SPECS[name]


def strategy_spec(strategy: str) -> StrategySpec:
    """The spec of ``strategy`` (``name`` or ``name:arg``); StrategyError if unknown."""
    return _spec_of(parse_strategy(strategy)[0])


def validate_strategy(strategy: str, steps: int | None = None) -> Any:
    """Parse and check ``strategy``'s argument (against ``steps`` when given); returns the parsed value.
    Raises :class:`StrategyError` naming the strategy and what to pass."""
    name, arg = parse_strategy(strategy)
    spec = _spec_of(name)
    return spec.parse(arg, steps) if spec.parse is not None else arg


def needs_probe(strategy: str) -> bool:
    """Whether ``strategy`` runs extra denoiser evaluations (``ctx.probe``) to choose its step."""
    return strategy_spec(strategy).needs_probe


def strategy_options(strategy: str, config: dict) -> dict[str, Any]:
    """The config values ``strategy`` reads, by option name (``{"no_change_policy": ...}``): what its
    edit job depends on, and only that."""
    out = {}
    for key, option in strategy_spec(strategy).option_names().items():
        value: Any = config
        for part in key.split("."):
            value = value[part]
        out[option] = value
    return out


# -- argument parsers --------------------------------------------------------------------------------
def int_step_arg(strategy: str) -> ArgParser:
    def parse(arg: str | None, steps: int | None) -> int:
        try:
            k = int(arg) if arg is not None else None
        except ValueError:
            k = None
        if k is None or k < 0 or (steps is not None and k > steps):
            bound = f"[0, {steps}]" if steps is not None else ">= 0"
            raise StrategyError(f"strategy {strategy} needs an integer K in {bound}, got {arg!r}")
        return k

    return parse


def float_arg(strategy: str, check: Callable[[float], bool], what: str, default: float | None = None) -> ArgParser:
    def parse(arg: str | None, steps: int | None) -> float | None:
        if arg is None:
            return default
        try:
            value = float(arg)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise StrategyError(f"strategy {strategy} needs {what}, got {arg!r}")
        return value

    return parse


@dataclass(frozen=True)
class SwapChoice:
    step: int | None  # None: skipped
    reason: str
    fallback: bool  # swap.no_change_policy decided the step


def choose_swap_step(
    strategy: str,
    trace: Trace | None,
    steps: int,
    rng: np.random.Generator | int | None = None,
    no_change_policy: str = "midpoint",
    sigmas: list[float] | None = None,
    target: str | None = None,
    probe: TargetProbe | None = None,
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[int | None, str]:
    """The swap step for ``strategy`` and why. ``target`` and ``probe``: for strategies whose spec
    needs a probe (see the module doc); ``source``: the swapped word's instrument (``presence``);
    ``options``: the values of the strategy's config keys by option name (:func:`strategy_options`).
    Callers go through :func:`difftone.engine.edit`."""
    choice = choose_swap(strategy, trace, steps, rng, no_change_policy, sigmas, target, probe, source, options)
    return choice.step, choice.reason


def choose_swap(
    strategy: str,
    trace: Trace | None,
    steps: int,
    rng: np.random.Generator | int | None = None,
    no_change_policy: str = "midpoint",
    sigmas: list[float] | None = None,
    target: str | None = None,
    probe: TargetProbe | None = None,
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> SwapChoice:
    """:func:`choose_swap_step` with whether ``swap.no_change_policy`` decided the step."""
    name, arg = parse_strategy(strategy)
    spec = _spec_of(name)
    if spec.needs_probe and (probe is None or target is None):
        what = "an editor, and a latent classifier" if spec.probe_classifier else "an editor"
        raise StrategyError(
            f"strategy {strategy!r} probes the target prompt: it needs a probe "
            f"(difftone.engine.TargetProbe: {what}) and the target instrument"
        )
    if spec.needs_trace and trace is None:
        raise StrategyError(f"strategy {name!r} needs the classifier trace of the source generation (a classifier)")
    if no_change_policy not in NO_CHANGE_POLICIES:
        raise StrategyError(
            f"swap.no_change_policy must be one of {', '.join(NO_CHANGE_POLICIES)}, not {no_change_policy!r}"
        )
    if steps < 2:
        raise StrategyError(f"steps must be at least 2, got {steps}")
    value = validate_strategy(strategy, steps)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ctx = SwapContext(
        trace,
        steps,
        rng,
        arg,
        no_change_policy,
        list(sigmas or []),
        target,
        probe,
        value,
        source=source,
        options=dict(options or {}),
    )
    step, reason = STRATEGIES[name](ctx)
    return SwapChoice(step, reason, ctx.fallback)


FALLBACK_MARK = "; policy "


@register_strategy("difftone", needs_trace=True, can_fall_back=True)
def difftone_strategy(ctx: SwapContext) -> tuple[int | None, str]:
    """The last step where the classifier's top-1 on x0_hat changes (Diff-TONE)."""
    changes = ctx.trace.change_steps()
    if changes:
        k = changes[-1]
        top1 = ctx.trace.top1
        return k, f"last top-1 change at step {k} ({top1[k - 1]} -> {top1[k]}; {len(changes)} change(s))"
    only = ctx.trace.top1[0] if ctx.trace.steps else "none"
    return _no_change(ctx, f"classifier top-1 never changed ({only} at all {ctx.trace.steps} steps)")


def _no_change(ctx: SwapContext, why: str) -> tuple[int | None, str]:
    """``swap.no_change_policy`` when a classifier-driven strategy finds no step (recorded as a fallback)."""
    ctx.fallback = True
    if ctx.no_change_policy == "midpoint":
        return ctx.steps // 2, f"{why}{FALLBACK_MARK}midpoint: step {ctx.steps // 2}"
    if ctx.no_change_policy == "no_edit":
        return ctx.steps, f"{why}{FALLBACK_MARK}no_edit: the source is kept (step {ctx.steps})"
    return None, f"{why}{FALLBACK_MARK}skip: no edit"


PRESENCE_KEY = "swap.presence_threshold"
PRESENCE_DEFAULT = 0.3  # the schema's default of swap.presence_threshold


def presence_changes(trace: Trace, code: str, threshold: float) -> list[int]:
    """Steps i >= 1 where the classifier's probability of ``code`` on x0_hat crosses ``threshold``
    (is >= it at one of steps i-1, i and below it at the other): where that instrument's presence changes."""
    if code not in trace.instruments:
        raise StrategyError(
            f"the classifier has no class {code!r} (its classes: {', '.join(trace.instruments)}); "
            "use a classifier trained on that instrument"
        )
    present = trace.probs[:, trace.instruments.index(code)] >= threshold
    return [i for i in range(1, len(present)) if present[i] != present[i - 1]]


@register_strategy(
    "presence",
    needs_trace=True,
    can_fall_back=True,
    config_keys=(PRESENCE_KEY,),
    arg="T",
    parse=float_arg("presence:T", lambda t: 0.0 < t < 1.0, "a probability T in (0, 1), e.g. presence:0.3"),
)
def presence_strategy(ctx: SwapContext) -> tuple[int | None, str]:
    """Per-word Diff-TONE (the paper's rule generalised to one instrument of several): the last step where
    the classifier's probability of the swapped word's instrument on the source's x0_hat crosses T
    (``presence:T``; else ``swap.presence_threshold``, default 0.3): the last step where the trace changes
    its mind about *that* instrument being there. One call per swapped word (``ctx.source``), so the words
    of one prompt get their own steps. If it never crosses, ``swap.no_change_policy`` applies (recorded)."""
    if ctx.source is None:
        raise StrategyError("strategy presence reads the swapped word's instrument: pass the source instrument")
    t = ctx.value if ctx.value is not None else float(ctx.options.get("presence_threshold", PRESENCE_DEFAULT))
    changes = presence_changes(ctx.trace, ctx.source, t)
    p = ctx.trace.probs[:, ctx.trace.instruments.index(ctx.source)]
    if changes:
        k = changes[-1]
        way = "rises above" if p[k] >= t else "falls below"
        return k, (
            f"last step where p({ctx.source}) crosses {t:g}: step {k} ({p[k - 1]:.2f} -> {p[k]:.2f}, "
            f"{way}; {len(changes)} crossing(s))"
        )
    side = "above" if p[0] >= t else "below"
    return _no_change(
        ctx,
        f"p({ctx.source}) never crossed {t:g} ({side} at all {ctx.trace.steps} steps, {p.min():.2f}..{p.max():.2f})",
    )


@register_strategy("midpoint")
def midpoint_strategy(ctx: SwapContext) -> tuple[int, str]:
    return ctx.steps // 2, f"midpoint of {ctx.steps} steps"


@register_strategy("random", config_keys=("edits.random_seed",))
def random_strategy(ctx: SwapContext) -> tuple[int, str]:
    """Uniform over the steps 1..N-1 (neither a plain regeneration nor no edit)."""
    k = int(ctx.rng.integers(1, ctx.steps))
    return k, f"random step in [1, {ctx.steps - 1}]"


@register_strategy("fixed", parse=int_step_arg("fixed:K"), arg="K")
def fixed_strategy(ctx: SwapContext) -> tuple[int, str]:
    k = ctx.value
    return k, f"fixed step {k}"


@register_strategy(
    "sigma", arg="S", parse=float_arg("sigma:S", lambda s: s >= 0, "a noise level S >= 0, e.g. sigma:0.7")
)
def sigma_strategy(ctx: SwapContext) -> tuple[int, str]:
    """The first step whose noise level sigma_k is <= S (``sigma:S``): the same noise level at any
    number of steps. S below the last sigma swaps at step N (no edit)."""
    s = ctx.value
    if s is None:
        raise StrategyError("strategy sigma:S needs a noise level S >= 0, e.g. sigma:0.7, got None")
    if len(ctx.sigmas) < ctx.steps:
        raise StrategyError(f"strategy sigma:{ctx.arg} needs the {ctx.steps} sigmas of the schedule")
    for k in range(ctx.steps):
        if ctx.sigmas[k] <= s:
            return k, f"first step with sigma <= {s:g}: step {k} (sigma {ctx.sigmas[k]:.4g})"
    return ctx.steps, f"no step has sigma <= {s:g} (last {ctx.sigmas[ctx.steps - 1]:.4g}): the source is kept"


@register_strategy(
    "probe",
    needs_probe=True,
    probe_classifier=True,
    can_fall_back=True,
    arg="P",
    parse=float_arg("probe:P", lambda p: 0.0 < p <= 1.0, "a probability P in (0, 1]"),
)
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
    min_p = ctx.value
    for k in range(ctx.steps - 1, -1, -1):
        probs = ctx.probe(k)
        top1 = max(probs, key=probs.get)
        p = probs.get(ctx.target, 0.0)
        if (top1 == ctx.target) if min_p is None else p >= min_p:
            return k, (
                f"latest step where the target prompt's x0_hat reads {ctx.target} "
                f"(p {p:.2f}{'' if min_p is None else f' >= {min_p:g}'}): step {k}, {ctx.steps - k} probe(s)"
            )
    return _no_change(ctx, f"the target prompt's x0_hat never read {ctx.target} (probed all {ctx.steps} steps)")


@register_strategy(
    "agree",
    needs_probe=True,
    can_fall_back=True,
    arg="R",
    parse=float_arg("agree:R", lambda r: 0.0 < r < 1.0, "a ratio R in (0, 1)", default=0.3),
)
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
    ratio = ctx.value
    full = ctx.probe.prompt_effect(0)
    if not full > 0:
        return _no_change(ctx, "the target prompt does not change x0_hat at step 0 (same prompt?)")
    for k in range(ctx.steps - 1, 0, -1):
        effect = ctx.probe.prompt_effect(k)
        if effect > ratio * full:
            step = k + 1
            return step, (
                f"prompts agree from step {step} on (target prompt's x0_hat within {ratio:g} of its "
                f"step-0 effect; step {k}: {effect / full:.2f}); {ctx.steps - k + 1} probe(s)"
            )
    return 1, f"prompts agree from step 1 on (ratio {ratio:g}); {ctx.steps} probe(s)"


@register_strategy("none")
def none_strategy(ctx: SwapContext) -> tuple[int, str]:
    return ctx.steps, "no swap: the source generation"
