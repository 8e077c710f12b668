"""The Diff-TONE editing engine: the denoising loop on the backbone interface with hooks on x0_hat
and a conditioning schedule (``loop``), swap strategies and their specs (``strategies``), the
target-prompt probe (``probe``), the prompt swap (``swap``), the trajectory cache
(``trajectory``) and the one edit step every caller uses (``edit_step.edit``).

One rule for one item or many: the first argument decides; one source in gives one result, a
sequence of sources in a list of results in order, and the per-source arguments follow it
(``Editor.generate``, ``Editor.edit_at``, ``edit``, ``apply_edits``).

Names are imported lazily: the strategy registry and the prompt swap load without torch
(Snakemake reads the registry while it parses the workflow).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ClassifierHook": "hooks",
    "StepHook": "hooks",
    "Conditioning": "loop",
    "ConditioningSchedule": "loop",
    "EditError": "loop",
    "Editor": "loop",
    "conditioning_at": "loop",
    "make_noise_sampler": "loop",
    "noise_bounds": "loop",
    "NO_CHANGE_POLICIES": "strategies",
    "SPECS": "strategies",
    "STRATEGIES": "strategies",
    "StrategyError": "strategies",
    "StrategySpec": "strategies",
    "SwapChoice": "strategies",
    "SwapContext": "strategies",
    "choose_swap": "strategies",
    "choose_swap_step": "strategies",
    "needs_probe": "strategies",
    "register_strategy": "strategies",
    "strategy_options": "strategies",
    "strategy_spec": "strategies",
    "validate_strategy": "strategies",
    "TargetProbe": "probe",
    "SwapError": "swap",
    "swap_instrument": "swap",
    "Trace": "trajectory",
    "Trajectory": "trajectory",
    "invert_audio": "inversion",
    "invert_latents": "inversion",
    "EditPlan": "edit_step",
    "EditRecord": "edit_step",
    "MultiEditRecord": "edit_step",
    "WordSwap": "edit_step",
    "edit_words": "edit_step",
    "word_schedule": "edit_step",
    "check_word_swaps": "swap",
    "swap_instruments": "swap",
    "presence_changes": "strategies",
    "apply_edits": "edit_step",
    "resume_key": "loop",
    "edit_rng": "edit_step",
    "edit": "edit_step",
    "EditOptions": "edit_step",
    "plan_edits": "edit_step",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"difftone.engine.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'difftone.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
