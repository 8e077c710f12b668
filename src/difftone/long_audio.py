"""A recording of any length, or one passage of it: windows, one swap step, crossfades, splicing.

The model denoises one window (3.02 s on the demo model, 47.55 s on Stable Audio Open). A longer
recording is cut into overlapping windows (:func:`plan_windows`: as few as cover it, spread evenly
so that every seam overlaps alike, at least ``real_audio.window_overlap``). A window's last latent
frame is not used (the model reads the whole window, the span it gives is one hop shorter; past the
file's end it reads silence): the demo model's decoder leaves that last hop silent, and on any VAE
the window's edge is its least reliable part. Each window is inverted
with the source prompt (:func:`difftone.engine.inversion.invert_audio`, ``real_audio.batch_windows``
windows per call, one seed for all); then one swap step serves every window, so the timbre is the
same throughout (:func:`common_step`): each window's step is chosen by the strategy from its own
trace, and the rule ``real_audio.window_step_rule`` picks one of them (fixed and noise-level
strategies give every window the same step, which every rule returns). Every window is resumed at
that step with the target prompt (:func:`difftone.engine.edit_step.apply_edits`), and the
edited windows are joined by crossfades over their overlaps (:func:`join_windows`).

The crossfades are equal-power (sin/cos) for uncorrelated material. Two windows of one recording
are correlated over their overlap (for the round trip of ``--strategy none`` nearly identical),
and an equal-power fade of two equal signals swells by +3 dB at the seam centre; so each seam's
gains keep the power constant for the correlation ``r`` measured on that overlap
(``g_in^2 + g_out^2 + 2 r g_in g_out = 1``, :func:`crossfade_gains`): ``r = 0`` is exactly the
sin/cos equal-power fade, ``r = 1`` the linear equal-gain fade.

One passage (``--start S --end E``): only the windows covering ``[S - fade, E + fade]`` (and a margin
of one overlap) are inverted and edited; the edit is spliced into the input file's own samples
with the same crossfades over ``[S - fade, S]`` and ``[E, E + fade]`` (``real_audio.passage_fade``,
shortened at the file's start or end). Outside ``[S - fade, E + fade]`` every sample of the output
is the input's sample (read as float64 and written as float or double: :func:`output_subtype`).

Memory per window, held until the step is chosen: the trajectory cache, ``(3N + 1) C F`` float32
values (latents ``N + 1``, x0_hat ``N``, noise maps ``N`` of ``C`` channels x ``F`` latent frames), and
the decoded window. Stable Audio Open, an estimate by this formula (not measured): N = 100, C = 64,
F = 1024 -> 301 x 64 x 1024 x 4 B = 79 MB, + 17 MB of stereo audio: ~96 MB per 47.55 s window (a
10-minute song at the default overlap: 15 windows, ~1.4 GB of host memory); the accelerator holds one
batch of ``batch_windows`` windows, as many single-window edits would. The demo model (measured by
:meth:`InvertedWindows.cache_bytes`): N = 30, C = 64, F = 65 -> 1.5 MB + 1.1 MB of audio per window.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from difftone import audio
from difftone.audio import AudioError
from difftone.engine.edit_step import EditOptions

log = logging.getLogger(__name__)

SAO_WINDOW_SECONDS = 1024 * 2048 / 44100  # Stable Audio Open's window (47.55 s): window_overlap is given on it
STEP_RULES = ("median", "earliest", "latest")
EXACT_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT", "ULAW", "ALAW"}  # float32 holds them exactly


class PassageError(AudioError):
    """Bad ``--start``/``--end`` for a file: the message says what to change."""


# -- pure parts ------------------------------------------------------------------------------------------
def overlap_samples(window_overlap: float, backbone) -> int:
    """``real_audio.window_overlap`` (seconds on SAO's 47.55 s window) scaled to ``backbone``'s window, in
    model-rate samples (0.38 s of the demo model's 3.02 s for the default 6 s)."""
    window = int(backbone.window_frames) * int(backbone.hop_length)
    seconds = float(window_overlap) * (window / backbone.sample_rate) / SAO_WINDOW_SECONDS
    return int(round(seconds * backbone.sample_rate))


def plan_windows(total: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` sample spans of the fewest windows of ``window`` samples overlapping by at least
    ``overlap`` that cover ``[0, total)``, spread evenly (the last one ends at ``total``). One span
    ``(0, total)`` when it fits one window."""
    if total <= 0 or window <= 0:
        raise ValueError(f"need a positive length and window, got {total} and {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in [0, {window})")
    if total <= window:
        return [(0, total)]
    count = math.ceil((total - window) / (window - overlap)) + 1
    starts = [round(i * (total - window) / (count - 1)) for i in range(count)]
    return [(s, s + window) for s in starts]


def common_step(steps: Sequence[int | None], rule: str = "median") -> int | None:
    """One swap step for every window from the windows' own steps (None: a window the no-change policy
    skipped; all None: None). ``median``: the lower median (default: a window whose trace is atypical,
    such as a near-silent one, cannot move it; the lower of two middles is the earlier step, the side
    on which the target's timbre takes over); ``earliest``: the step of the window that decides
    earliest (every window's instrument is still open there: the strongest edit); ``latest``: the
    most structure kept (windows that decided earlier may keep their timbre)."""
    if rule not in STEP_RULES:
        raise ValueError(f"real_audio.window_step_rule {rule!r} is not one of {', '.join(STEP_RULES)}")
    chosen = sorted(int(s) for s in steps if s is not None)
    if not chosen:
        return None
    return {"median": chosen[(len(chosen) - 1) // 2], "earliest": chosen[0], "latest": chosen[-1]}[rule]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two equal-shaped signals, clipped to [0, 1] (0 when either is silent)."""
    na, nb = float(np.sqrt(np.sum(a.astype(np.float64) ** 2))), float(np.sqrt(np.sum(b.astype(np.float64) ** 2)))
    if na == 0 or nb == 0:
        return 0.0
    return float(np.clip(np.sum(a.astype(np.float64) * b) / (na * nb), 0.0, 1.0))


def crossfade_gains(length: int, r: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(fade_out, fade_in)`` gains over ``length`` samples with constant power for signals of correlation
    ``r`` (module doc): ``r = 0`` gives ``cos``/``sin`` (equal power), ``r = 1`` the linear equal-gain fade.
    The gains run from (1, 0) to (0, 1) at the samples just outside the fade."""
    t = (np.arange(length, dtype=np.float64) + 1) / (length + 1) * 2 - 1  # (-1, 1)
    odd = np.sin(np.pi * t / 4) / np.sqrt(2)
    even = np.sqrt((1 - 2 * odd**2 * (1 - r)) / (2 * (1 + r)))
    return even - odd, even + odd


def crossfade(outgoing: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """``outgoing`` fading into ``incoming`` (same shape ``[ch, n]``) at constant power for their correlation."""
    fade_out, fade_in = crossfade_gains(outgoing.shape[-1], correlation(outgoing, incoming))
    return outgoing * fade_out + incoming * fade_in


def join_windows(pieces: Sequence[np.ndarray], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """The windows' audio ``[ch, stop - start]`` at their ``spans`` (from :func:`plan_windows`, shifted to start
    at 0) joined into one ``[ch, last stop]``: each seam crossfades (:func:`crossfade`) where exactly
    its two windows overlap; elsewhere the one window that covers a sample gives it."""
    out = np.zeros((pieces[0].shape[0], spans[-1][1]), dtype=np.float64)
    for i, (piece, (start, stop)) in enumerate(zip(pieces, spans)):
        if piece.shape[-1] != stop - start:
            raise ValueError(f"window {i} has {piece.shape[-1]} samples for a span of {stop - start}")
        lo = spans[i - 1][1] if i > 0 else start  # after the previous window ends
        hi = spans[i + 1][0] if i + 1 < len(spans) else stop  # before the next one starts
        if i + 2 < len(spans):
            hi = min(hi, spans[i + 2][0])
        out[:, lo:hi] = piece[:, lo - start : hi - start]
        if i + 1 < len(spans):  # the seam with the next window, where only these two overlap
            a = spans[i + 1][0] if i == 0 else max(spans[i + 1][0], spans[i - 1][1])
            b = min(stop, spans[i + 2][0]) if i + 2 < len(spans) else stop
            nxt, nstart = pieces[i + 1], spans[i + 1][0]
            out[:, a:b] = crossfade(piece[:, a - start : b - start], nxt[:, a - nstart : b - nstart])
    return out


def seams(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The crossfade region ``(a, b)`` of each seam of :func:`join_windows`."""
    out = []
    for i in range(len(spans) - 1):
        a = spans[i + 1][0] if i == 0 else max(spans[i + 1][0], spans[i - 1][1])
        b = min(spans[i][1], spans[i + 2][0]) if i + 2 < len(spans) else spans[i][1]
        out.append((a, b))
    return out


@dataclass(frozen=True)
class Passage:
    """``[start, end)`` of the input file in its samples, and the fades before and after it (samples)."""

    start: int
    end: int
    fade_in: int
    fade_out: int

    @property
    def outer(self) -> tuple[int, int]:
        """``[start - fade_in, end + fade_out)``: the samples the splice may change."""
        return self.start - self.fade_in, self.end + self.fade_out

    def info(self, sample_rate: int) -> dict:
        return {
            "start": self.start / sample_rate,
            "end": self.end / sample_rate,
            "fade_in": self.fade_in / sample_rate,
            "fade_out": self.fade_out / sample_rate,
            "changed": [s / sample_rate for s in self.outer],
        }


def check_passage(
    path: str | Path, start: float | None, end: float | None, duration: float, sample_rate: int, fade: float
) -> Passage | None:
    """``--start``/``--end`` (seconds; either alone: to the file's end or from its start) -> a :class:`Passage`,
    or None for the whole file. One :class:`PassageError` for end before start, values outside the file and a
    passage shorter than the fade. The fades are shortened at the file's start and end."""
    if start is None and end is None:
        return None
    s = 0.0 if start is None else float(start)
    e = duration if end is None else float(end)
    if not (math.isfinite(s) and math.isfinite(e)):
        raise PassageError(path, f"--start {start} / --end {end} must be finite seconds")
    if s < 0 or e > duration + 1e-9:
        raise PassageError(
            path,
            f"the passage {s:g}-{e:g} s is outside the file (0-{duration:.3f} s): give --start and --end within it",
        )
    if e <= s:
        raise PassageError(path, f"--end {e:g} s is not after --start {s:g} s: give the passage's start first")
    if e - s < fade:
        raise PassageError(
            path,
            f"the passage {s:g}-{e:g} s is shorter than its fade of {fade:g} s "
            "(real_audio.passage_fade): give a longer passage or a shorter fade",
        )
    n = int(round(duration * sample_rate))
    a, b = int(round(s * sample_rate)), min(n, int(round(e * sample_rate)))
    f = int(round(fade * sample_rate))
    return Passage(a, b, min(f, a), min(f, n - b))


def splice(original: np.ndarray, edited: np.ndarray, passage: Passage) -> np.ndarray:
    """``original`` ``[ch, n]`` with ``edited`` (same shape) in the passage, crossfaded over the fades; every
    sample outside :attr:`Passage.outer` is ``original``'s, untouched."""
    out = np.array(original, copy=True)
    lo, hi = passage.outer
    out[:, passage.start : passage.end] = edited[:, passage.start : passage.end]
    if passage.fade_in:
        out[:, lo : passage.start] = crossfade(original[:, lo : passage.start], edited[:, lo : passage.start])
    if passage.fade_out:
        out[:, passage.end : hi] = crossfade(edited[:, passage.end : hi], original[:, passage.end : hi])
    return out


def span_for(
    passage: Passage, file_rate: int, model_rate: int, total: int, window: int, margin: int
) -> tuple[int, int]:
    """Model-rate ``[a, b)`` the windows of a passage cover: its outer samples and ``margin`` either side,
    widened to at least one window (centred, within ``[0, total)``)."""
    lo, hi = passage.outer
    a = max(0, int(math.floor(lo * model_rate / file_rate)) - margin)
    b = min(total, int(math.ceil(hi * model_rate / file_rate)) + margin)
    if b - a < window:
        grow = window - (b - a)
        a = max(0, a - grow // 2)
        b = min(total, a + window)
        a = max(0, b - window)
    return a, b


def output_subtype(subtype: str) -> str:
    """The written file's subtype: FLOAT when float32 holds every sample of the input's exactly, else DOUBLE."""
    return "FLOAT" if subtype in EXACT_SUBTYPES else "DOUBLE"


def write_exact(path: str | Path, wave: np.ndarray, sample_rate: int, subtype: str) -> Path:
    """Write ``wave`` ``[ch, n]`` as is (no peak limit, no clipping: a spliced file keeps the input's samples)."""
    path = Path(path)
    wave = np.atleast_2d(np.asarray(wave, dtype=np.float64))
    if not np.isfinite(wave).all():
        raise AudioError(path, "refusing to write NaN or infinite samples")
    with audio.atomic_path(path) as tmp:
        sf.write(str(tmp), wave.T, sample_rate, subtype=subtype, format=path.suffix.lstrip(".").upper() or "WAV")
    return path


# -- the engine's parts ------------------------------------------------------------------------------------
@dataclass
class LongSettings:
    """The ``real_audio`` keys of long recordings and passages."""

    window_overlap: float = 6.0
    batch_windows: int = 4
    window_step_rule: str = "median"
    max_seconds: float = 600.0
    passage_fade: float = 0.1

    @classmethod
    def from_config(cls, real_audio: Mapping[str, Any]) -> LongSettings:
        return cls(**{k: real_audio[k] for k in cls.__dataclass_fields__ if k in real_audio})


@dataclass
class InvertedWindows:
    """The inverted windows of a recording (or of the span around a passage): ``spans`` in model-rate samples
    of ``recording.wave``, one trajectory each."""

    recording: Any  # difftone.real_audio.Recording
    prompt: str
    spans: list[tuple[int, int]]
    trajectories: list = field(default_factory=list)
    passage: Passage | None = None
    nfe: int = 0  # of the inversion (counted once, however many edits use it)

    @property
    def span(self) -> tuple[int, int]:
        return self.spans[0][0], self.spans[-1][1]

    def reuse(self, target_guidance_scale: float | None, passage: Passage | None) -> InvertedWindows:
        """These inverted windows for another edit of the same spans: its target guidance (stored on each
        trajectory, read only by the resumed steps) and its passage (read only by the splice)."""
        import dataclasses

        g = None if target_guidance_scale is None else float(target_guidance_scale)
        trajs = [dataclasses.replace(t, target_guidance_scale=g) for t in self.trajectories]
        return dataclasses.replace(self, trajectories=trajs, passage=passage)

    def cache_bytes(self) -> int:
        """Host memory of one window's trajectory cache (latents, x0_hat, noise maps) and decoded audio."""
        t = self.trajectories[0]
        return sum(int(x.numel() * x.element_size()) for x in (t.latents, t.x0_hat, t.noise, t.audio))


def window_spans(backbone, recording, settings: LongSettings, passage: Passage | None = None) -> list[tuple[int, int]]:
    """Model-rate ``(start, stop)`` spans of ``recording.wave`` whose windows :func:`invert_windows` inverts:
    the whole recording's, or those around ``passage``. AudioError when the overlap exceeds half a window."""
    window = int(backbone.window_frames) * int(backbone.hop_length)
    usable = window - int(backbone.hop_length)  # the window's last latent frame is not used (module doc)
    total = int(recording.wave.shape[1])
    overlap = overlap_samples(settings.window_overlap, backbone)
    if overlap * 2 > window:
        raise AudioError(
            recording.path,
            f"real_audio.window_overlap {settings.window_overlap} s is "
            f"{overlap / backbone.sample_rate:.2f} s on this model, more than half its "
            f"window of {window / backbone.sample_rate:.2f} s: lower it",
        )
    a, b = (
        (0, total)
        if passage is None
        else span_for(passage, recording.sample_rate, backbone.sample_rate, total, usable, overlap)
    )
    return [(a + s, a + e) for s, e in plan_windows(b - a, usable, overlap)]


def invert_windows(
    editor,
    recording,
    prompt: str,
    steps: int,
    guidance_scale: float,
    settings: LongSettings,
    *,
    seed: int = 0,
    target_guidance_scale: float | None = None,
    passage: Passage | None = None,
) -> InvertedWindows:
    """Invert the windows of ``recording`` (all of it, or the span around ``passage``) with ``prompt``,
    ``settings.batch_windows`` per call; one seed for every window."""
    from difftone.engine.inversion import invert_audio

    backbone = editor.backbone
    window = int(backbone.window_frames) * int(backbone.hop_length)
    overlap = overlap_samples(settings.window_overlap, backbone)
    spans = window_spans(backbone, recording, settings, passage)
    nfe0 = editor.nfe
    padded = np.pad(recording.wave, ((0, 0), (0, window)))  # a window reads past the file's end: silence
    out = InvertedWindows(recording, prompt, spans, passage=passage)
    batch = max(1, int(settings.batch_windows))
    for i in tqdm(
        range(0, len(spans), batch),
        desc="invert windows",
        unit="batch",
        leave=False,
        disable=None if editor.progress is None else not editor.progress or len(spans) <= batch,
    ):
        chunk = spans[i : i + batch]
        # a window of its span's length when the recording fits one window, else the model's whole window
        ends = [e if len(spans) == 1 else s + window for s, e in chunk]
        waves = torch.stack([torch.from_numpy(padded[:, s:end]) for (s, _), end in zip(chunk, ends)])
        out.trajectories += invert_audio(
            editor,
            waves,
            [prompt] * len(chunk),
            [seed] * len(chunk),
            steps,
            guidance_scale,
            target_guidance_scale=target_guidance_scale,
            recordings=[{**recording.info(), "window": [s, e]} for s, e in chunk],
        )
    out.nfe = editor.nfe - nfe0
    log.info(
        "inverted %d window(s) of %s (overlap %d samples at %d Hz): %.1f MB of cache per window",
        len(spans),
        recording.path,
        overlap,
        backbone.sample_rate,
        out.cache_bytes() / 2**20,
    )
    return out


class SharedInversions:
    """The inversions of one recording by one editor, shared by its edits (:func:`edit_recording`
    ``inversions=``): edits whose windows (the same spans) are inverted with the same prompt, steps, source
    guidance, seed and ``batch_windows`` use one inversion, each with its own target guidance and passage
    (:meth:`InvertedWindows.reuse`): bit for bit what a separate inversion gives, since the windows go
    through the same batches. Windows are shared only as a whole set: a passage whose windows differ from the
    file's is inverted on its own, as alone (a window in another batch may round differently)."""

    def __init__(self, editor, recording):
        self.editor, self.recording = editor, recording
        self._done: dict[tuple, InvertedWindows] = {}

    def get(
        self,
        prompt: str,
        steps: int,
        guidance_scale: float,
        settings: LongSettings,
        *,
        seed: int = 0,
        target_guidance_scale: float | None = None,
        passage: Passage | None = None,
    ) -> tuple[InvertedWindows, bool]:
        """The inverted windows for one edit and whether they were inverted by this call (False: shared)."""
        spans = window_spans(self.editor.backbone, self.recording, settings, passage)
        key = (prompt, int(steps), float(guidance_scale), int(seed), max(1, int(settings.batch_windows)), tuple(spans))
        done = self._done.get(key)
        if done is not None:
            log.info("%s: the inversion of its %d window(s) is shared", self.recording.path, len(spans))
            return done.reuse(target_guidance_scale, passage), False
        done = self._done[key] = invert_windows(
            self.editor,
            self.recording,
            prompt,
            steps,
            guidance_scale,
            settings,
            seed=seed,
            target_guidance_scale=target_guidance_scale,
            passage=passage,
        )
        return done, True


@dataclass
class RecordingEdit:
    """One edit of a recording: the step used, each window's own step and reason, the audio at model rate over
    the inverted span (None when skipped)."""

    target: str
    target_prompt: str
    strategy: str
    rule: str
    swap_step: int | None
    sigma: float
    reason: str
    windows: list[dict]
    fallback: bool
    nfe: int
    probe_nfe: int
    audio: np.ndarray | None = None

    @property
    def skipped(self) -> bool:
        return self.swap_step is None


def edit_windows(
    editor,
    inverted: InvertedWindows,
    source: str,
    targets: Sequence[str],
    strategy: str,
    settings: LongSettings,
    options: EditOptions | None = None,
    *,
    item: str = "",
) -> list[RecordingEdit]:
    """Edit the inverted windows into each target at one step (module doc): the strategy plans every window
    (:func:`~difftone.engine.edit_step.plan_edits`, each window with the random stream of ``options.seed``,
    ``item`` and the target: the same draw for every window), :func:`common_step` picks the step, every window
    resumes there (:func:`~difftone.engine.edit_step.apply_edits`, ``batch_windows`` windows per call) and the
    windows are joined."""
    from dataclasses import replace

    from difftone.engine.edit_step import apply_edits, plan_edits

    trajs = inverted.trajectories
    per_window = [plan_edits(editor, t, source, targets, strategy, options, item=item) for t in trajs]
    edits, common = [], []
    for j, target in enumerate(targets):
        plans = [p[j] for p in per_window]
        step = common_step([p.swap_step for p in plans], settings.window_step_rule)
        sigma = float("nan") if step is None else float(trajs[0].sigmas[step])
        reason = (
            f"{settings.window_step_rule} of the {len(plans)} windows' steps {[p.swap_step for p in plans]}"
            if len(plans) > 1
            else plans[0].reason
        )
        if step is None:
            reason = "skipped: the no-change policy skipped every window"
        common.append([replace(p, swap_step=step, sigma=sigma) for p in plans])
        probe_nfe = sum(p.probe_nfe for p in plans)
        edits.append(
            RecordingEdit(
                target=target,
                target_prompt=plans[0].target_prompt,
                strategy=strategy,
                rule=settings.window_step_rule,
                swap_step=step,
                sigma=sigma,
                reason=reason,
                windows=[
                    {
                        "span": list(span),
                        "swap_step": p.swap_step,
                        "reason": p.reason,
                        "fallback": p.fallback,
                        "trace": None if t.trace is None else t.trace.to_dict(),
                    }
                    for p, t, span in zip(plans, trajs, inverted.spans)
                ],
                fallback=any(p.fallback for p in plans),
                probe_nfe=probe_nfe,
                nfe=probe_nfe + (0 if step is None else len(plans) * (trajs[0].steps - step)),
            )
        )
    batch = max(1, int(settings.batch_windows))
    waves: list[list] = []
    for i in tqdm(
        range(0, len(trajs), batch),
        desc="edit windows",
        unit="batch",
        leave=False,
        disable=None if editor.progress is None else not editor.progress or len(trajs) <= batch,
    ):
        chunk = range(i, min(i + batch, len(trajs)))
        done = apply_edits(
            editor, [trajs[w] for w in chunk], [[common[j][w] for j in range(len(targets))] for w in chunk]
        )
        waves += [[r.audio for r in records] for records in done]
    for j, edit in enumerate(edits):
        if edit.swap_step is not None:
            edit.audio = join_spans([waves[w][j] for w in range(len(trajs))], inverted.spans)
    return edits


def join_spans(pieces: Sequence, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Windows' audio (tensors or arrays, model rate; each cut to its span's length) at absolute ``spans`` ->
    ``[ch, span]`` float64."""
    a = spans[0][0]
    arrays = [
        np.asarray(p.detach().cpu() if isinstance(p, torch.Tensor) else p, dtype=np.float64)[:, : e - s]
        for p, (s, e) in zip(pieces, spans)
    ]
    return join_windows(arrays, [(s - a, e - a) for s, e in spans])


def reconstruction(inverted: InvertedWindows) -> np.ndarray:
    """The windowed VAE round trip over the inverted span (model rate): the windows' decoded latents joined."""
    return join_spans([t.audio for t in inverted.trajectories], inverted.spans)


def to_file(
    wave: np.ndarray, inverted: InvertedWindows, model_rate: int, original: np.ndarray | None = None
) -> np.ndarray:
    """Model-rate audio over the inverted span -> the input's rate, channels, length and level (float64); a
    passage is spliced into ``original`` (the input's samples, float64 ``[ch, n]``)."""
    from difftone.real_audio import restore

    rec = inverted.recording
    full = np.zeros((wave.shape[0], rec.wave.shape[1]), dtype=np.float32)
    a, b = inverted.span
    full[:, a:b] = wave
    restored = restore(full, rec, model_rate).astype(np.float64)
    if inverted.passage is None:
        return restored
    return splice(original, restored, inverted.passage)


def read_exact(path: str | Path) -> tuple[np.ndarray, int, str]:
    """The input file's samples as float64 ``[ch, n]`` (exact for every PCM and float subtype), rate, subtype."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return np.ascontiguousarray(data.T), int(rate), str(sf.info(str(path)).subtype)


# -- the one path of every caller (CLI, Python, workflow) --------------------------------------------------
@dataclass
class RecordingResult:
    """An edited recording: the inverted windows, the round trip and each edit at the input's rate, channels,
    length and level (float64 ``[ch, n]``; a passage spliced into the input), and how to write them."""

    inverted: InvertedWindows
    reconstruction: np.ndarray
    edits: list[RecordingEdit]
    outputs: list[np.ndarray | None]
    sample_rate: int
    subtype: str  # of the written files (output_subtype of the input's)
    nfe_inversion: int  # of the inversion these edits resume, counted once: by the edit that ran it
    inverted_here: bool = True  # False: the inversion was shared (edit_recording's inversions=)

    def info(self) -> dict:
        """What the JSON records: the windows, their spans (model-rate samples) and the passage."""
        inv = self.inverted
        return {
            "windows": [list(s) for s in inv.spans],
            "window_seconds": [[s / inv.trajectories[0].sample_rate for s in span] for span in inv.spans],
            "passage": None if inv.passage is None else inv.passage.info(self.sample_rate),
            "cache_mb_per_window": round(inv.cache_bytes() / 2**20, 3),
            "subtype": self.subtype,
        }


def edit_recording(
    editor,
    recording,
    prompt: str,
    source: str,
    targets: Sequence[str],
    strategy: str,
    settings: LongSettings,
    *,
    steps: int,
    source_guidance: float,
    target_guidance: float,
    seed: int = 0,
    start: float | None = None,
    end: float | None = None,
    options: EditOptions | None = None,
    item: str = "",
    inversions: SharedInversions | None = None,
) -> RecordingResult:
    """Invert ``recording`` (:func:`difftone.real_audio.load_recording` with ``max_seconds``) window by window
    and edit it into ``targets`` at one step (module doc); ``start``/``end`` (seconds): only that passage,
    checked before any model call. ``seed``: the inversion's noise; ``options`` (its own ``seed``: the
    strategies' random streams) and ``item``: as :func:`difftone.engine.edit`. ``inversions``: of this
    recording and editor, shared with other edits of it (the same result as an inversion of its own)."""
    info = audio.info(recording.path)
    passage = check_passage(
        recording.path, start, end, recording.duration, recording.sample_rate, settings.passage_fade
    )
    original = read_exact(recording.path)[0] if passage is not None else None
    rate = editor.backbone.sample_rate
    if inversions is None:
        inversions = SharedInversions(editor, recording)
    elif inversions.recording is not recording or inversions.editor is not editor:
        raise ValueError(f"the shared inversions are of {inversions.recording.path}, not of {recording.path}")
    inverted, inverted_here = inversions.get(
        prompt, steps, source_guidance, settings, seed=seed, target_guidance_scale=target_guidance, passage=passage
    )
    edits = edit_windows(editor, inverted, source, targets, strategy, settings, options, item=item)
    return RecordingResult(
        inverted=inverted,
        reconstruction=to_file(reconstruction(inverted), inverted, rate, original),
        edits=edits,
        outputs=[None if e.audio is None else to_file(e.audio, inverted, rate, original) for e in edits],
        sample_rate=recording.sample_rate,
        subtype=output_subtype(info.subtype),
        nfe_inversion=inverted.nfe,
        inverted_here=inverted_here,
    )


def recording_edit_record(
    result,
    audio_info: dict,
    *,
    prompt: str,
    source: str,
    target: str,
    seed: int,
    model: str,
    steps: int,
    guidance_scale: float,
    source_guidance_scale: float,
    model_sample_rate: int,
    strategy: str,
    no_change_policy: str,
    classifier: dict | None,
    **extra,
) -> dict:
    """The JSON record of one recording edit (``edit_recording``'s first target): what ``difftone edit --audio``
    writes as ``edit.json`` and the studio's ``edit_audio`` returns; ``extra`` keys are added after ``seed``."""
    edit = result.edits[0]
    step = edit.swap_step
    sigma = None if step is None else float(edit.sigma)
    return {
        "prompt": prompt,
        "audio": audio_info,
        "source_guidance_scale": source_guidance_scale,
        "model_sample_rate": model_sample_rate,
        "target_prompt": edit.target_prompt,
        "source": source,
        "target": target,
        "seed": seed,
        **extra,
        "model": model,
        "steps": steps,
        "duration": audio_info["samples"] / audio_info["sample_rate"],
        "guidance_scale": guidance_scale,
        "sample_rate": result.sample_rate,
        "strategy": strategy,
        "no_change_policy": no_change_policy,
        "window_step_rule": edit.rule,
        "swap_step": step,
        "sigma": sigma,
        "reason": edit.reason,
        "words": [
            {
                "source": source,
                "target": target,
                "swap_step": step,
                "sigma": sigma,
                "reason": edit.reason,
                "fallback": edit.fallback,
                "probe_nfe": edit.probe_nfe,
            }
        ],
        "schedule": [] if step is None or step >= steps else [[int(step), edit.target_prompt]],
        "skipped": step is None,
        "fallback": edit.fallback,
        "classifier": classifier,
        "trace": edit.windows[0]["trace"] if len(edit.windows) == 1 else None,
        **result.info(),
        "window_steps": edit.windows,
        "nfe": {
            "inversion": result.nfe_inversion,
            "edit": edit.nfe,
            "probe": edit.probe_nfe,
            "total": result.nfe_inversion + edit.nfe,
        },
    }
