"""The one edit step: a source trajectory, its instrument, the targets and a strategy -> edit records.

For each target: swap the instrument word of the source prompt, probe the target prompt
on the source's cached noisy latents when the strategy's spec asks for it, choose the
swap step with the strategy, then resume the source from the cache at that step
(:meth:`Editor.edit_at`: all targets of one step in one batch, a repeated (prompt, step)
pair once). Every caller (the CLI, the experiment's edits, the sweep, Figure 2, the
benchmark) goes through :func:`edit` (or its halves); nothing else calls the strategy
chooser or ``Editor.edit_at`` (``tests/test_edit_step.py`` checks it).

One source or many, the engine's one rule (:mod:`difftone.engine.loop`): the first argument
decides; one trajectory in -> its records; a sequence of trajectories in -> a list of their
records, in order, and the per-source arguments (source instrument, item, plans) are then
sequences of the same length. Edits of different sources that resume at the same step share a
DiT batch of at most ``editor.batch_size``.

:class:`EditOptions`: the settings every edit of a run shares (the no-change policy, the seed of
the random streams, extra synonyms, the probe's classifier, the strategy's config values).

NFE of an edit = the denoiser evaluations of its resumed run (N - k; 0 when skipped) +
its probe's evaluations (``probe_nfe``). ``fallback``: ``swap.no_change_policy`` decided
the step.

Two halves for callers that mix strategies in one batch (the benchmark):
:func:`plan_edits` (prompt swap, probe, step choice; one source) and :func:`apply_edits`
(the resumed runs); :func:`edit` is both.

Several instrument words of one prompt ("a duet for piano and trumpet" -> "... organ and
saxophone"): :func:`edit_words` chooses a step per word with the same strategies (each
word's instrument is the strategy's ``source``; ``presence`` reads that instrument's
probability in the trace) and runs the swaps one after another along the trajectory, in one
resumed run (:meth:`Editor.resume` with a conditioning schedule) -> :class:`MultiEditRecord`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from difftone.engine.loop import EditError, Editor
from difftone.engine.probe import TargetProbe
from difftone.engine.strategies import StrategyError, choose_swap, strategy_spec
from difftone.engine.swap import check_word_swaps, instrument, swap_instrument, swap_instruments
from difftone.engine.trajectory import Trajectory

RngFor = Callable[[str], np.random.Generator]
Targets = Sequence[str] | Callable[[str], Sequence[str]]


def edit_rng(seed: int, item: str, target: str) -> np.random.Generator:
    """The random stream of one edit: depends on the seed, the item and the target only."""
    return np.random.default_rng([seed, zlib.crc32(item.encode()), zlib.crc32(target.encode())])


@dataclass(frozen=True)
class EditOptions:
    """The settings every edit of a run shares.

    ``no_change_policy``: ``swap.no_change_policy`` (midpoint | skip | no_edit); ``seed``: the seed of each
    edit's random stream (:func:`edit_rng`); ``synonyms``: extra prompt words per IRMAS code
    (``swap.synonyms``); ``probe_classifier``: the latent classifier, for strategies whose probe reads it
    (their spec's ``probe_classifier``); ``strategy_options``: the values of the strategy's config keys
    (:func:`difftone.engine.strategy_options`)."""

    no_change_policy: str = "midpoint"
    seed: int = 0
    synonyms: Mapping[str, Sequence[str]] | None = None
    probe_classifier: torch.nn.Module | None = None
    strategy_options: Mapping[str, Any] | None = None


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
    options: EditOptions | None = None,
    *,
    item: str = "",
    rng: np.random.Generator | RngFor | None = None,
) -> list[EditPlan]:
    """Swap the prompt, probe when the strategy's spec needs it, choose the swap step, per target (one source).

    ``rng``: a generator shared by all targets, or target -> generator; default
    :func:`edit_rng` (``options.seed``, item, target)."""
    options = options or EditOptions()
    spec = strategy_spec(strategy)
    source = instrument(source).code
    if spec.probe_classifier and options.probe_classifier is None:
        raise StrategyError(
            f"strategy {strategy} probes the target prompt with the latent classifier: "
            "pass its checkpoint (results/classifiers/distilled)"
        )
    plans = []
    for target in targets:
        prompt = swap_instrument(trajectory.prompt, source, target, options.synonyms)
        probe = None
        if spec.needs_probe:
            classifier = options.probe_classifier if spec.probe_classifier else None
            probe = TargetProbe(editor, classifier, trajectory, prompt)
        generator = rng(target) if callable(rng) else (rng if rng is not None else edit_rng(options.seed, item, target))
        choice = choose_swap(
            strategy,
            trajectory.trace,
            trajectory.steps,
            generator,
            options.no_change_policy,
            trajectory.sigmas,
            target=target,
            probe=probe,
            source=source,
            options=options.strategy_options,
        )
        step = choice.step
        plans.append(
            EditPlan(
                strategy=strategy,
                target=target,
                target_prompt=prompt,
                swap_step=step,
                reason=choice.reason,
                fallback=choice.fallback,
                probe_nfe=probe.nfe if probe is not None else 0,
                sigma=float("nan") if step is None else float(trajectory.sigmas[int(step)]),
            )
        )
    return plans


def apply_edits(
    editor: Editor,
    trajectory: Trajectory | Sequence[Trajectory],
    plans: Sequence[EditPlan] | Sequence[Sequence[EditPlan]],
) -> list[EditRecord] | list[list[EditRecord]]:
    """Run the plans' edits from the trajectory cache in one :meth:`Editor.edit_at` call: one trajectory and
    its plans -> its records; a sequence of trajectories and one list of plans each -> a list of their
    records (edits of different sources that resume at the same step share a DiT batch)."""
    if isinstance(trajectory, Trajectory):
        waves = editor.edit_at(trajectory, [p.target_prompt for p in plans], [p.swap_step for p in plans])
        return _records(trajectory, plans, waves)
    trajectories, per_source = list(trajectory), list(plans)
    _same_length(trajectories, per_source, "lists of plans")
    waves = editor.edit_at(
        trajectories,
        [[p.target_prompt for p in ps] for ps in per_source],
        [[p.swap_step for p in ps] for ps in per_source],
    )
    return [_records(t, ps, w) for t, ps, w in zip(trajectories, per_source, waves)]


def _records(trajectory: Trajectory, plans: Sequence[EditPlan], waves) -> list[EditRecord]:
    records = []
    for plan, wave in zip(plans, waves):
        run_nfe = trajectory.steps - plan.swap_step if plan.swap_step is not None else 0
        records.append(EditRecord(**vars(plan), nfe=run_nfe + plan.probe_nfe, audio=wave))
    return records


def _same_length(trajectories: Sequence, values: Sequence, what: str) -> None:
    if isinstance(values, str) or len(values) != len(trajectories):
        raise EditError(f"{len(trajectories)} trajectories take {len(trajectories)} {what} (one each), got {values!r}")


def edit(
    editor: Editor,
    trajectory: Trajectory | Sequence[Trajectory],
    source: str | Sequence[str],
    targets: Targets,
    strategy: str,
    options: EditOptions | None = None,
    *,
    item: str | Sequence[str] | None = None,
    rng: np.random.Generator | RngFor | None = None,
) -> list[EditRecord] | list[list[EditRecord]]:
    """Edit source generations into ``targets`` under ``strategy`` (module doc): one
    :class:`EditRecord` per target, in order.

    One trajectory, its ``source`` instrument and ``item`` (the name of its random stream, default "") ->
    its records. A sequence of trajectories with one source instrument and one item each -> a list of
    their records; each source is planned alone (its own random streams: the same records as editing it
    alone) and the edits of all of them run together. ``targets``: the targets of every source, or source
    instrument -> its targets. ``rng``: instead of :func:`edit_rng` (:func:`plan_edits`)."""
    if isinstance(targets, str):
        raise EditError(f"targets must be a list of instruments (or source -> targets), got the string {targets!r}")
    one = isinstance(trajectory, Trajectory)
    trajectories = [trajectory] if one else list(trajectory)
    sources = [source] if one else source
    items = [item or ""] if one else (item if item is not None else [""] * len(trajectories))
    _same_length(trajectories, sources, "source instruments")
    _same_length(trajectories, items, "items")
    plans = [
        plan_edits(editor, t, s, targets(s) if callable(targets) else targets, strategy, options, item=i, rng=rng)
        for t, s, i in zip(trajectories, sources, items)
    ]
    records = apply_edits(editor, trajectories, plans)
    return records[0] if one else records


# -- several words of one prompt ----------------------------------------------------------------------
@dataclass
class WordSwap:
    """One swapped word of a multi-word edit: its instruments, its step and why."""

    source: str  # IRMAS code
    target: str
    swap_step: int | None  # None: skipped (policy skip); N: this word is never swapped
    sigma: float
    reason: str
    fallback: bool
    probe_nfe: int


@dataclass
class MultiEditRecord:
    """An edit that swaps several instrument words, each at its own step, in one resumed run.

    ``schedule``: the prompt changes ``(from_step, prompt)`` of the resumed run (word by word, in step
    order; empty when no word is swapped before step N); ``swap_step``: the first of them (where the run
    resumes; N: the source is kept, None: skipped because a word's policy skipped it)."""

    strategy: str
    source_prompt: str
    target_prompt: str  # every word swapped
    words: list[WordSwap]
    schedule: list[tuple[int, str]]
    swap_step: int | None
    sigma: float
    reason: str
    nfe: int = 0  # the resumed run + every word's probe
    audio: torch.Tensor | None = None

    @property
    def skipped(self) -> bool:
        return self.swap_step is None

    @property
    def fallback(self) -> bool:
        return any(w.fallback for w in self.words)

    @property
    def probe_nfe(self) -> int:
        return sum(w.probe_nfe for w in self.words)


def word_schedule(
    prompt: str, words: Sequence[WordSwap], steps: int, synonyms: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[int, str]]:
    """The prompt changes of a multi-word edit: at each distinct swap step k < N, the source prompt with
    every word whose step is <= k swapped (so the prompt changes word by word along the trajectory)."""
    changes = []
    for k in sorted({w.swap_step for w in words if w.swap_step is not None and w.swap_step < steps}):
        done = [(w.source, w.target) for w in words if w.swap_step is not None and w.swap_step <= k]
        changes.append((int(k), swap_instruments(prompt, done, synonyms)))
    return changes


def edit_words(
    editor: Editor,
    trajectory: Trajectory,
    words: Sequence[tuple[str, str]],
    strategy: str,
    options: EditOptions | None = None,
    *,
    item: str = "",
) -> MultiEditRecord:
    """Swap several instrument words of the source prompt (``words``: ``(source, target)`` pairs, in order),
    each at the step ``strategy`` chooses for that word (``ctx.source`` = the word's instrument; a probe runs
    the prompt with that word alone swapped; random draws per word from :func:`edit_rng` (seed, item, target)),
    then resume the source once at the earliest step under the word-by-word schedule (:func:`word_schedule`).
    Bad pairs (a word twice, a word not in the prompt) raise :class:`SwapError` before any evaluation."""
    options = options or EditOptions()
    synonyms = options.synonyms
    resolved = check_word_swaps(words)
    full_prompt = swap_instruments(trajectory.prompt, [(s.code, t.code) for s, t in resolved], synonyms)
    swaps = []
    for src, tgt in resolved:
        plan = plan_edits(editor, trajectory, src.code, [tgt.code], strategy, options, item=item)[0]
        swaps.append(
            WordSwap(src.code, tgt.code, plan.swap_step, plan.sigma, plan.reason, plan.fallback, plan.probe_nfe)
        )
    n = trajectory.steps
    probe_nfe = sum(w.probe_nfe for w in swaps)
    record = MultiEditRecord(
        strategy=strategy,
        source_prompt=trajectory.prompt,
        target_prompt=full_prompt,
        words=swaps,
        schedule=[],
        swap_step=None,
        sigma=float("nan"),
        reason="",
        nfe=probe_nfe,
    )
    skipped = [w.source for w in swaps if w.swap_step is None]
    if skipped:
        record.reason = f"skipped: the no-change policy skipped the word(s) of {', '.join(skipped)}"
        return record
    record.schedule = word_schedule(trajectory.prompt, swaps, n, synonyms)
    if not record.schedule:
        record.swap_step, record.sigma = n, float(trajectory.sigmas[n])
        record.reason = "no word swapped before the last step: the source is kept"
        record.audio = trajectory.audio.clone()
        return record
    k = record.schedule[0][0]
    record.swap_step, record.sigma = k, float(trajectory.sigmas[k])
    record.reason = "; ".join(f"{w.source}->{w.target} at step {w.swap_step}" for w in swaps)
    record.audio = editor.resume(trajectory, [(step, [prompt]) for step, prompt in record.schedule])[0]
    record.nfe = (n - k) + probe_nfe
    return record
