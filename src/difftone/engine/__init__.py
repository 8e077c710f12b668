"""The Diff-TONE editing engine: denoising loop with hooks on x0_hat, prompt swap,
swap strategies, the trajectory cache, batching and NFE counting."""

from difftone.engine.hooks import ClassifierHook, StepHook
from difftone.engine.loop import (
    Conditioning,
    ConditioningSchedule,
    EditError,
    Editor,
    conditioning_at,
    make_noise_sampler,
    noise_bounds,
)
from difftone.engine.strategies import (
    NO_CHANGE_POLICIES,
    STRATEGIES,
    StrategyError,
    SwapContext,
    choose_swap_step,
    needs_probe,
    register_strategy,
)
from difftone.engine.probe import TargetProbe
from difftone.engine.swap import SwapError, swap_instrument
from difftone.engine.trajectory import Trace, Trajectory

__all__ = [
    "ClassifierHook", "Conditioning", "ConditioningSchedule", "EditError", "Editor", "NO_CHANGE_POLICIES", "STRATEGIES", "StepHook",
    "StrategyError", "SwapContext", "SwapError", "TargetProbe", "Trace", "Trajectory", "choose_swap_step", "conditioning_at",
    "make_noise_sampler", "needs_probe", "noise_bounds", "register_strategy", "swap_instrument",
]
