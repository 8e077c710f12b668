"""The studio's model work, without Gradio: resolve and load the model once, generate or invert a
source, edit it, and render edits at several steps of its cached trajectory.

Everything goes through the library's one path, as ``difftone edit`` does: the config, model
and classifier resolution (:func:`difftone.session.resolve_session`; device and dtype: the flag,
else the config), :meth:`Editor.generate`, the inversion
(:func:`difftone.real_audio.load_recording` / :func:`~difftone.real_audio.invert_recording`),
and the edit step (:func:`difftone.engine.edit` for one word, :func:`difftone.engine.edit_words`
for several). A source's trajectory is kept by the caller
(the page keeps it per browser session), so moving the swap step to k costs the N - k
remaining steps only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from difftone.session import Session

log = logging.getLogger("difftone.studio")

RANDOM_SOUND = (
    "The studio runs {what}: its weights are random and **everything it plays is noise**. For real "
    "edits, train the demo model (`bash scripts/run.sh`, or `snakemake train_demo_model`) and start "
    "`difftone studio` in that folder, where `results/demo/model` is found as `difftone edit` finds it."
)
UNTRAINED = {"tiny": "the `tiny` test model", "demo": "the untrained demo weights"}


class StudioError(ValueError):
    """A bad input from the page; the message says what to change."""


@dataclass(frozen=True)
class Resolved:
    """What ``difftone studio`` runs: the :class:`~difftone.session.Session` (config, model spec, classifier
    checkpoint or None) and the device and dtype, chosen as ``difftone edit`` chooses them."""

    session: Session
    device: str
    dtype: str

    @classmethod
    def of(cls, session: Session, device: str | None = None, dtype: str | None = None) -> Resolved:
        """``device``/``dtype``: the ``--device``/``--dtype`` flags; unset, the session's config's."""
        return cls(session, device or session.config["device"], dtype or session.config["model"]["dtype"])

    @property
    def config(self) -> dict:
        return self.session.config

    @property
    def spec(self) -> str:
        return self.session.model

    @property
    def classifier(self) -> str | None:
        return self.session.classifier

    @property
    def random_sound(self) -> str | None:
        """The banner when the resolution ended on a model with random weights (``tiny``, untrained ``demo``)."""
        what = UNTRAINED.get(self.spec)
        return None if what is None else RANDOM_SOUND.format(what=what)


def word_pairs(sources: str | Sequence[str], targets: str | Sequence[str]) -> list[tuple[str, str]]:
    """``"piano,trumpet"`` and ``"organ,saxophone"`` (or lists) -> IRMAS code pairs, in order; the checks of
    ``difftone edit --source/--target``."""
    from difftone.cli_inputs import CLIError, _word_pairs

    def join(v):
        return v if isinstance(v, str) else ",".join(v)

    sources, targets = join(sources or ""), join(targets or "")
    if not sources.strip() or not targets.strip():
        raise StudioError("choose the source instrument (the one the prompt or recording has) and a target")
    try:
        return _word_pairs(sources, targets)
    except CLIError as exc:
        raise StudioError(str(exc).replace("--source", "source").replace("--target", "target")) from None


class Studio:
    """One loaded model serving the page: ``generate``, ``invert``, ``edit``, ``edit_at_steps``.

    ``out_dir``: where the WAV, JSON and picture files of every request go (one subfolder each); the
    page serves files from there only."""

    def __init__(self, resolved: Resolved, out_dir: str | Path):
        from difftone.engine import Editor
        from difftone.models import load_backbone

        self.resolved = resolved
        self.config = resolved.config
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        model_cfg = self.config["model"]
        self.steps, self.duration = int(model_cfg["steps"]), float(model_cfg["duration"])
        self.guidance = float(model_cfg["guidance_scale"])
        self.backbone = load_backbone(resolved.spec, dtype=resolved.dtype, device=resolved.device)
        self.classifier, info = self._classifier()
        # in the records: the checkpoint under "checkpoint", not "path" (gradio_client downloads any dict with a
        # "path" key as a file, and the server refuses a path outside the studio's folder)
        self.classifier_info = None if info is None else _without_path(info, "checkpoint")
        self.editor = Editor(self.backbone, self.classifier)
        self.editor.check_settings(self.steps, self.duration, self.guidance)

    def _classifier(self):
        """``difftone edit``'s choice (:func:`~difftone.cli_inputs._classifier_for`); no classifier is not an
        error at start-up (strategies that need one say so when chosen)."""
        from difftone.cli_inputs import _classifier_for

        try:
            return _classifier_for(self.resolved.classifier, self.resolved.spec, self.backbone, self.config, "midpoint")
        except Exception as exc:  # a broken checkpoint: say so at start-up
            raise StudioError(f"cannot load the classifier {self.resolved.classifier}: {exc}") from None

    @property
    def sample_rate(self) -> int:
        return int(self.backbone.sample_rate)

    def new_folder(self) -> Path:
        folder = self.out_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        return folder

    # -- sources ------------------------------------------------------------------------------
    def generate(self, prompt: str, seed: int):
        """The source :class:`~difftone.engine.Trajectory` of ``prompt`` and ``seed`` (with its trace)."""
        prompt = (prompt or "").strip()
        if not prompt:
            raise StudioError("type a prompt naming the source instrument, e.g. “A soft piano melody”")
        return self.editor.generate(prompt, _seed(seed), self.steps, self.duration, self.guidance)

    def load_upload(self, path: str | Path, *, any_length: bool = False):
        """The :class:`~difftone.real_audio.Recording` of an uploaded file: the studio's size limit, the checks
        and messages of ``difftone edit --audio`` (:func:`~difftone.real_audio.load_recording`; ``any_length``:
        up to ``real_audio.max_seconds``, else one model window), then ``studio.max_upload_seconds``."""
        from difftone.real_audio import load_recording

        if not path:
            raise StudioError("upload or record a file first")
        path = Path(path)
        limits, real = self.config["studio"], self.config["real_audio"]
        size_mb = path.stat().st_size / 1e6 if path.is_file() else 0.0
        if size_mb > limits["max_upload_mb"]:
            raise StudioError(
                f"{path.name}: {size_mb:.1f} MB is more than the studio's limit of "
                f"{limits['max_upload_mb']} MB (config studio.max_upload_mb)"
            )
        recording = load_recording(
            path,
            self.backbone,
            peak=real["peak"],
            silence_db=real["silence_db"],
            max_silent_fraction=real["max_silent_fraction"],
            max_seconds=real["max_seconds"] if any_length else None,
        )
        if recording.duration > limits["max_upload_seconds"]:
            raise StudioError(
                f"{path.name}: {recording.duration:.1f} s is longer than the studio's limit of "
                f"{limits['max_upload_seconds']} s (config studio.max_upload_seconds); trim it"
            )
        return recording

    def upload_prompt(self, source: str, prompt: str | None = None) -> str:
        """The source prompt of a recording: ``prompt``, else ``real_audio.source_prompt`` with the first
        source's name (as ``difftone edit --audio``)."""
        from difftone.engine.swap import instrument
        from difftone.real_audio import source_prompt

        name = instrument(source.split(",")[0].strip()).name
        return source_prompt(name, (prompt or "").strip() or None, self.config["real_audio"]["source_prompt"])

    @property
    def upload_guidance(self) -> float:
        """Guidance of a recording's edited steps: ``real_audio.target_guidance``, else ``model.guidance_scale``."""
        real = self.config["real_audio"]
        return real["target_guidance"] if real["target_guidance"] is not None else self.guidance

    def invert(self, path: str | Path, source: str, prompt: str | None = None, seed: int = 0):
        """``(trajectory, recording)`` of an uploaded file of one model window (the page keeps its trajectory to
        move the step; :meth:`edit_upload` edits any length), inverted under :meth:`upload_prompt`."""
        from difftone.real_audio import invert_recording

        recording = self.load_upload(path)
        trajectory = invert_recording(
            self.editor,
            recording,
            self.upload_prompt(source, prompt),
            self.steps,
            self.config["real_audio"]["source_guidance"],
            seed=_seed(seed),
            target_guidance_scale=self.upload_guidance,
        )
        return trajectory, recording

    def edit_upload(
        self,
        path: str | Path,
        words: Sequence[tuple[str, str]],
        strategy: str | None = None,
        seed: int = 0,
        prompt: str | None = None,
    ):
        """An uploaded file of any length edited into one target as ``difftone edit --audio`` edits it
        (:func:`difftone.long_audio.edit_recording`: windows, one swap step, crossfades) -> ``(result,
        recording, prompt, strategy)``. ``seed``: the inversion's noise and the strategies' random streams."""
        from difftone.engine import EditOptions, StrategyError, strategy_options, validate_strategy
        from difftone.long_audio import LongSettings, edit_recording

        ((src, tgt),) = words
        strategy = (strategy or "").strip() or self.default_strategy(words)
        try:
            validate_strategy(strategy, self.steps)
        except StrategyError as exc:
            raise StudioError(str(exc)) from None
        recording = self.load_upload(path, any_length=True)
        real, swap, seed = self.config["real_audio"], self.config["swap"], _seed(seed)
        prompt = self.upload_prompt(src, prompt)
        options = EditOptions(
            no_change_policy=swap["no_change_policy"],
            seed=seed,
            synonyms=swap["synonyms"],
            probe_classifier=self.classifier,
            strategy_options=strategy_options(strategy, self.config),
        )
        result = edit_recording(
            self.editor,
            recording,
            prompt,
            src,
            [tgt],
            strategy,
            LongSettings.from_config(real),
            steps=self.steps,
            source_guidance=real["source_guidance"],
            target_guidance=self.upload_guidance,
            seed=seed,
            options=options,
        )
        return result, recording, prompt, strategy

    def upload_record(self, result, recording, prompt: str, words, strategy: str, seed: int) -> dict[str, Any]:
        """The JSON record of :meth:`edit_upload`: the keys of ``difftone edit --audio``'s ``edit.json``."""
        from difftone.long_audio import recording_edit_record

        ((src, tgt),) = words
        real = self.config["real_audio"]
        return recording_edit_record(
            result,
            _upload_info(recording),
            prompt=prompt,
            source=src,
            target=tgt,
            seed=_seed(seed),
            model=self.resolved.spec,
            steps=self.steps,
            guidance_scale=self.upload_guidance,
            source_guidance_scale=real["source_guidance"],
            model_sample_rate=self.sample_rate,
            strategy=strategy,
            no_change_policy=self.config["swap"]["no_change_policy"],
            classifier=self.classifier_info,
        )

    def target_prompt(self, prompt: str, words: Sequence[tuple[str, str]]) -> str:
        """``prompt`` with the words swapped (SwapError when a source instrument is not in it)."""
        from difftone.engine import swap_instruments

        return swap_instruments((prompt or "").strip(), list(words), self.config["swap"]["synonyms"])

    # -- edits --------------------------------------------------------------------------------
    def default_strategy(self, words: Sequence[tuple[str, str]]) -> str:
        return "difftone" if len(words) == 1 else "presence"

    def edit_once(
        self,
        trajectory,
        words: Sequence[tuple[str, str]],
        strategy: str | None = None,
        seed: int = 0,
        guidance: float | None = None,
    ):
        """One edit of ``trajectory`` (``words``: (source, target) code pairs) by ``strategy`` (default:
        ``difftone`` for one word, ``presence`` for several, as ``difftone edit``): the edit step's record
        (:class:`~difftone.engine.EditRecord` or :class:`~difftone.engine.MultiEditRecord`).
        ``guidance``: of the edited steps (default the trajectory's)."""
        from difftone.engine import EditOptions, StrategyError, edit, edit_words, strategy_options, validate_strategy

        strategy = (strategy or "").strip() or self.default_strategy(words)
        try:
            validate_strategy(strategy, trajectory.steps)
        except StrategyError as exc:
            raise StudioError(str(exc)) from None
        trajectory = self._with_guidance(trajectory, guidance)
        swap = self.config["swap"]
        options = EditOptions(
            no_change_policy=swap["no_change_policy"],
            seed=_seed(seed),
            synonyms=swap["synonyms"],
            probe_classifier=self.classifier,
            strategy_options=strategy_options(strategy, self.config),
        )
        if len(words) == 1:
            ((src, tgt),) = words
            return edit(self.editor, trajectory, src, [tgt], strategy, options, rng=np.random.default_rng(_seed(seed)))[
                0
            ]
        return edit_words(self.editor, trajectory, list(words), strategy, options)

    def hear_steps(self, chosen: int | None) -> list[int]:
        """The steps "hear every step" renders: ``studio.steps_to_hear`` evenly spaced in [0, N], and ``chosen``."""
        k = int(self.config["studio"]["steps_to_hear"])
        steps = {int(round(s)) for s in np.linspace(0, self.steps, k)}
        if chosen is not None:
            steps.add(int(chosen))
        return sorted(steps)

    def edit_at_steps(
        self, trajectory, words: Sequence[tuple[str, str]], steps: Sequence[int], guidance: float | None = None
    ) -> list:
        """Edits of ``trajectory`` swapped at each of ``steps`` (strategy ``fixed:k``): for one word the plans of
        every step go to the edit step's one batched run (:func:`~difftone.engine.apply_edits`); several words
        are swapped together at each step (:func:`~difftone.engine.edit_words`)."""
        from difftone.engine import EditOptions, apply_edits, edit_words, plan_edits

        trajectory = self._with_guidance(trajectory, guidance)
        options = EditOptions(synonyms=self.config["swap"]["synonyms"])
        if len(words) == 1:
            ((src, tgt),) = words
            plans = [plan_edits(self.editor, trajectory, src, [tgt], f"fixed:{k}", options)[0] for k in steps]
            return apply_edits(self.editor, trajectory, plans)
        return [edit_words(self.editor, trajectory, list(words), f"fixed:{k}", options) for k in steps]

    def _with_guidance(self, trajectory, guidance: float | None):
        if guidance is None or float(guidance) == trajectory.edit_guidance_scale:
            return trajectory
        if float(guidance) < 0:
            raise StudioError(f"guidance must be >= 0, got {guidance}")
        return dataclasses.replace(trajectory, target_guidance_scale=float(guidance))

    # -- files ----------------------------------------------------------------------------------
    def record(self, trajectory, words, edit, strategy: str, seed: int, recording=None) -> dict[str, Any]:
        """The edit's JSON record: the keys of ``difftone edit``'s ``edit.json``."""
        multi = hasattr(edit, "words")
        word_records = (
            [{**vars(w)} for w in edit.words]
            if multi
            else [
                {
                    "source": words[0][0],
                    "target": words[0][1],
                    "swap_step": edit.swap_step,
                    "sigma": edit.sigma,
                    "reason": edit.reason,
                    "fallback": edit.fallback,
                    "probe_nfe": edit.probe_nfe,
                }
            ]
        )
        for w in word_records:
            w["sigma"] = None if w["swap_step"] is None else float(w["sigma"])
        n = trajectory.steps
        schedule = (
            edit.schedule
            if multi
            else ([] if edit.swap_step is None or edit.swap_step >= n else [(edit.swap_step, edit.target_prompt)])
        )
        nfe_source = int(trajectory.nfe)
        return {
            "prompt": trajectory.prompt,
            "audio": None if recording is None else _upload_info(recording),
            "target_prompt": self.target_prompt(trajectory.prompt, words),
            "source": words[0][0] if len(words) == 1 else [s for s, _ in words],
            "target": words[0][1] if len(words) == 1 else [t for _, t in words],
            "seed": _seed(seed),
            "model": self.resolved.spec,
            "steps": n,
            "duration": trajectory.duration,
            "guidance_scale": trajectory.edit_guidance_scale,
            "sample_rate": self.sample_rate if recording is None else recording.sample_rate,
            "strategy": strategy,
            "no_change_policy": self.config["swap"]["no_change_policy"],
            "swap_step": edit.swap_step,
            "sigma": None if edit.swap_step is None else float(trajectory.sigmas[edit.swap_step]),
            "reason": edit.reason,
            "words": word_records,
            "schedule": [[int(k), p] for k, p in schedule],
            "skipped": edit.swap_step is None,
            "fallback": edit.fallback,
            "classifier": self.classifier_info,
            "trace": None if trajectory.trace is None else trajectory.trace.to_dict(),
            "nfe": {
                ("inversion" if recording is not None else "source"): nfe_source,
                "edit": edit.nfe,
                "probe": edit.probe_nfe,
                "total": nfe_source + edit.nfe,
            },
        }

    def write_wav(self, folder: Path, name: str, wave, recording=None) -> Path:
        """``wave`` ([ch, n] at the model's rate) as ``folder/name``: at the model's rate, or for a recording at
        the input's rate, channels, length and level (float WAV, as ``difftone edit --audio``)."""
        from difftone import audio as audio_io
        from difftone.real_audio import restore

        path = folder / name
        if recording is None:
            audio_io.write(path, np.asarray(wave.detach().cpu() if hasattr(wave, "detach") else wave), self.sample_rate)
        else:
            audio_io.write(
                path,
                restore(wave, recording, self.sample_rate),
                recording.sample_rate,
                subtype="FLOAT",
                keep_channels=True,
            )
        return path

    @staticmethod
    def write_json(folder: Path, name: str, record: dict) -> Path:
        path = folder / name
        path.write_text(json.dumps(record, indent=1) + "\n")
        return path


def _without_path(info: dict[str, Any], key: str) -> dict[str, Any]:
    """``info`` with its ``path`` entry under ``key`` (a record a client must not take for a file)."""
    info = dict(info)
    return {key: info.pop("path", None), **info}


def _upload_info(recording) -> dict[str, Any]:
    """The recording's facts for the record: its file name only (not the server's upload path; a ``path`` key
    would also make gradio_client take the record for a file)."""
    info = recording.info()
    return {"file": Path(info.pop("path")).name, **info}


def _seed(seed) -> int:
    try:
        value = int(seed if seed is not None else 0)
    except (TypeError, ValueError):
        raise StudioError(f"the seed must be a whole number, got {seed!r}") from None
    if value < 0:
        raise StudioError(f"the seed must be >= 0, got {value}")
    return value
