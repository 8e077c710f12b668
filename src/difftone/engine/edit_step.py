"""The one edit step: a source trajectory, its instrument, the targets and a strategy -> edit records.

For each target: swap the instrument word of the source prompt, probe the target prompt
on the source's cached noisy latents when the strategy's spec asks for it, choose the
swap step with the strategy, then resume the source from the cache at that step
(:meth:`Editor.edit`: all targets of one step in one batch, a repeated (prompt, step)
pair once). Every caller (the CLI, the experiment's edits, the sweep, Figure 2, the
benchmark) goes through here; nothing else calls the strategy chooser or ``Editor.edit``
(``tests/test_edit_step.py`` checks it).

NFE of an edit = the denoiser evaluations of its resumed run (N - k; 0 when skipped) +
its probe's evaluations (``probe_nfe``). ``fallback``: ``swap.no_change_policy`` decided
the step.

Two halves for callers that mix strategies in one batch (the benchmark):
``plan_edits`` (prompt swap, probe, step choice) and ``apply_edits`` (the resumed runs);
``edit_source`` is both.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from difftone.engine.loop import Editor
from difftone.engine.probe import TargetProbe
from difftone.engine.strategies import StrategyError, choose_swap, strategy_spec
from difftone.engine.swap import swap_instrument
from difftone.engine.trajectory import Trajectory

RngFor = Callable[[str], np.random.Generator]


def edit_rng(seed: int, item: str, target: str) -> np.random.Generator:
    """The random stream of one edit: depends on the seed, the item and the target only."""
    return np.random.default_rng([seed, zlib.crc32(item.encode()), zlib.crc32(target.encode())])


@dataclass
class EditPlan:
    """One edit before its run: the target, its prompt, the chosen step and why."""

    strategy: str
    target: str  # IRMAS code
    target_prompt: str
    swap_step: int | None  # None: skipped (policy skip)
    reason: str
    fallback: bool  # swap.no_change_policy decided the step
    probe_nfe: int  # denoiser evaluations the probe spent choosing the step
    sigma: float  # noise level at which the swap step starts (NaN when skipped)


@dataclass
class EditRecord(EditPlan):
    """An edit done: the plan, its NFE (resumed run + probe) and the audio ``[ch, samples]`` (None if skipped)."""

    nfe: int = 0
    audio: torch.Tensor | None = None

    @property
    def skipped(self) -> bool:
        return self.swap_step is None


def plan_edits(
    editor: Editor,
    trajectory: Trajectory,
    source: str,
    targets: Sequence[str],
    strategy: str,
    *,
    no_change_policy: str = "midpoint",
    seed: int = 0,
    item: str = "",
    synonyms: Mapping[str, Sequence[str]] | None = None,
    probe_classifier: torch.nn.Module | None = None,
    rng: np.random.Generator | RngFor | None = None,
) -> list[EditPlan]:
    """Swap the prompt, probe when the strategy's spec needs it, choose the swap step, per target.

    ``rng``: a generator shared by all targets, or target -> generator; default
    :func:`edit_rng` (seed, item, target). ``probe_classifier``: the latent classifier, for
    strategies whose probe reads it (their spec's ``probe_classifier``)."""
    spec = strategy_spec(strategy)
    if spec.probe_classifier and probe_classifier is None:
        raise StrategyError(f"strategy {strategy} probes the target prompt with the latent classifier: "
                            "pass its checkpoint (results/classifiers/distilled)")
    plans = []
    for target in targets:
        prompt = swap_instrument(trajectory.prompt, source, target, synonyms)
        probe = None
        if spec.needs_probe:
            probe = TargetProbe(editor, probe_classifier if spec.probe_classifier else None, trajectory, prompt)
        generator = rng(target) if callable(rng) else (rng if rng is not None else edit_rng(seed, item, target))
        choice = choose_swap(strategy, trajectory.trace, trajectory.steps, generator, no_change_policy,
                             trajectory.sigmas, target=target, probe=probe)
        step = choice.step
        plans.append(EditPlan(
            strategy=strategy, target=target, target_prompt=prompt, swap_step=step, reason=choice.reason,
            fallback=choice.fallback, probe_nfe=probe.nfe if probe is not None else 0,
            sigma=float("nan") if step is None else float(trajectory.sigmas[int(step)]),
        ))
    return plans


def apply_edits(editor: Editor, trajectory: Trajectory, plans: Sequence[EditPlan]) -> list[EditRecord]:
    """Run the plans' edits from the trajectory cache in one :meth:`Editor.edit` call (equal steps batched)."""
    waves = editor.edit(trajectory, [p.target_prompt for p in plans], [p.swap_step for p in plans])
    records = []
    for plan, wave in zip(plans, waves):
        run_nfe = trajectory.steps - plan.swap_step if plan.swap_step is not None else 0
        records.append(EditRecord(**vars(plan), nfe=run_nfe + plan.probe_nfe, audio=wave))
    return records


def edit_source(
    editor: Editor,
    trajectory: Trajectory,
    source: str,
    targets: Sequence[str],
    strategy: str,
    *,
    no_change_policy: str = "midpoint",
    seed: int = 0,
    item: str = "",
    synonyms: Mapping[str, Sequence[str]] | None = None,
    probe_classifier: torch.nn.Module | None = None,
    rng: np.random.Generator | RngFor | None = None,
) -> list[EditRecord]:
    """All edits of one source generation into ``targets`` under ``strategy`` (module doc): one
    :class:`EditRecord` per target, in order."""
    plans = plan_edits(editor, trajectory, source, targets, strategy, no_change_policy=no_change_policy, seed=seed,
                       item=item, synonyms=synonyms, probe_classifier=probe_classifier, rng=rng)
    return apply_edits(editor, trajectory, plans)
