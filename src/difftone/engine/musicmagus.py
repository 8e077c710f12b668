"""MusicMagus (Zhang et al., IJCAI 2024), the paper's third baseline, on the backbone interface.

Written once against :class:`difftone.models.backbone.Backbone`, so it runs on AudioLDM2
(the reference's backbone, :mod:`difftone.models.audioldm2`) and on the SAO family (the DiT's
``attn2`` layers). What it follows in the reference code (ldzhangyx/MusicMagus, commit of
the mirror; ``audioldm2/p2p_pipeline.py``, ``audioldm2/embedding_calculator.py``,
``inference.ipynb``):

- **Direction** (``EmbeddingCalculator``, ``construct_direction``): captions of the source
  word and of the target word are encoded at a fixed length ``L + 2`` tokens
  (``fix_length = prompt_length + 2``; L = ``caption_words``), averaged per token position,
  and ``direction = scale * (mean(target) - mean(source))`` (scale 1 in the reference,
  ``1 * self.construct_direction(...)``), padded with zeros or truncated to the prompt's
  length (the pipeline's "edit direction truncated/padded" branch).
- **Edited conditioning** (``prompt_embeds_edit[1:2] += edit_direction``): the source
  prompt's text stream (AudioLDM2: the FLAN-T5 states, ``Conditioning.text``) plus the
  direction on the *conditional half only*; the unconditional half (the negative prompt)
  is untouched. The other streams come from the prompt with the word replaced
  (``encode_prompt(target_prompt)`` for AudioLDM2's GPT-2 stream); on SAO, whose only stream
  is the text, the edited conditioning is the shifted source text.
- **Cross-attention constraint** (``Pix2PixZeroAttnProcessor``, ``Pix2PixZeroMSELoss`` with
  weights 1): the source run's cross-attention probabilities of every ``attn2`` layer at
  every step are the reference; in the edited run, from the source's initial latent, each
  step does one forward pass with the edited conditioning, the loss
  ``sum_layers mean_{batch, heads} sum_{query, key} (A_edit - A_source)^2``, one SGD step on
  the noisy latent only (``torch.optim.SGD([x_in], lr=cross_attention_guidance_amount)``:
  0.04 in the notebook, 0.15 the function default), then the ordinary guided step from the
  updated latent (a second forward pass). The SGD step is taken on the denoiser's input
  (``x_in`` is the scheduler-scaled model input; DDIM's scaling is 1), so on SAO, whose
  input is ``c_in * x``, the latent moves by ``step_size * grad_x / c_in**2``
  (``Backbone.input_scale``): the same step size means the same move in the model's input space. Source maps are recomputed from the source
  trajectory's cached ``x_i`` (the reference stores them during the source run: the same
  maps), so a step costs 3 denoiser evaluations, as in the reference (1 source + 2 edited).
- Backbone settings of the notebook (DDIM eta 0, 100 steps, guidance 3.5, negative prompt
  "low quality", 10 s) are the paper config's ``musicmagus`` keys.

Differences, said plainly: the reference runs the CFG batch on two copies of the latent and
keeps the *unconditional* copy's update (``latents = x_in.detach().chunk(2)[0]``); here the
two halves share one latent (as every guided step does) and its gradient sums both halves'
losses. ``steps`` (a fraction range) and ``layers`` (name filters) generalise the reference's
"every step, every attn2 layer" (their defaults). Real-audio inversion (DDIM inversion +
LP-MusicCaps captions) is not used: the sources are generations from a seed, as Diff-TONE's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from difftone.engine.loop import EditError, Editor
from difftone.engine.swap import instrument, swap_instrument
from difftone.engine.trajectory import Trajectory
from difftone.models.backbone import Backbone, Conditioning, Schedule

log = logging.getLogger(__name__)


class MusicMagusError(ValueError):
    """MusicMagus cannot run with these inputs (captions, backbone, settings); the message says what to do."""


@dataclass(frozen=True)
class MusicMagusSettings:
    """The method's hyperparameters (config ``musicmagus``; defaults = the reference notebook)."""

    step_size: float = 0.04  # cross_attention_guidance_amount (notebook 0.04; function default 0.15)
    layers: tuple[str, ...] = ()  # substrings of cross-attention layer names; empty: every layer (reference)
    steps: tuple[float, float] = (0.0, 1.0)  # constrained steps: fractions [from, to) of N (reference: all)
    direction_scale: float = 1.0  # the reference's `1 * construct_direction(...)`
    n_captions: int = 24  # captions per instrument word (EmbeddingCalculator.generate_captions number=24)
    caption_words: int = 10  # L: caption length asked of the LLM; encoded at L + 2 tokens (fix_length)

    def __post_init__(self):
        if self.step_size < 0:
            raise MusicMagusError(f"musicmagus.step_size must be >= 0, got {self.step_size}")
        lo, hi = self.steps
        if not 0.0 <= lo <= hi <= 1.0:
            raise MusicMagusError(f"musicmagus.steps must be fractions 0 <= from <= to <= 1, got {list(self.steps)}")
        if self.n_captions < 1 or self.caption_words < 1:
            raise MusicMagusError("musicmagus.n_captions and musicmagus.caption_words must be >= 1")

    @classmethod
    def from_config(cls, section: Mapping) -> MusicMagusSettings:
        section = dict(section)
        if "constraint_steps" in section:  # the config key's name
            section["steps"] = section.pop("constraint_steps")
        keys = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in section.items() if k in keys}
        if "layers" in values:
            values["layers"] = tuple(values["layers"] or ())
        if "steps" in values:
            values["steps"] = tuple(float(s) for s in values["steps"])
        return cls(**values)

    @property
    def encode_length(self) -> int:
        return int(self.caption_words) + 2

    def constrained(self, step: int, steps: int) -> bool:
        lo, hi = self.steps
        return self.step_size > 0 and lo * steps <= step < hi * steps


# -- cross-attention maps ---------------------------------------------------------------------------
def attention_probs(
    attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """Softmax cross-attention probabilities ``[B, heads, queries, keys]`` of a diffusers ``Attention``
    module, computed as its processors do (q/k projections, GQA key heads repeated, q/k norms, scale,
    additive mask) but explicitly, so they can be compared and differentiated."""
    if hidden_states.ndim == 4:
        b, c, h, w = hidden_states.shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    b = hidden_states.shape[0]
    query = attn.to_q(hidden_states)
    context = encoder_hidden_states
    if attn.norm_cross:
        context = attn.norm_encoder_hidden_states(context)
    key = attn.to_k(context)
    head_dim = query.shape[-1] // attn.heads
    kv_heads = key.shape[-1] // head_dim
    query = query.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    key = key.view(b, -1, kv_heads, head_dim).transpose(1, 2)
    if kv_heads != attn.heads:
        key = torch.repeat_interleave(key, attn.heads // kv_heads, dim=1)
    if getattr(attn, "norm_q", None) is not None:
        query = attn.norm_q(query)
    if getattr(attn, "norm_k", None) is not None:
        key = attn.norm_k(key)
    scores = (query.float() @ key.float().transpose(-1, -2)) * attn.scale
    if attention_mask is not None:
        mask = attn.prepare_attention_mask(attention_mask, key.shape[2], b)
        scores = scores + mask.view(b, attn.heads, -1, mask.shape[-1]).float()
    return scores.softmax(dim=-1)


class _Observer:
    """An attention processor that hands the layer's probabilities to the store, then runs the layer's own
    processor unchanged (so the output, and a run with step size 0, equal the plain backbone's)."""

    def __init__(self, name: str, inner, store: CrossAttentionStore):
        self.name, self.inner, self.store = name, inner, store

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, rotary_emb=None
    ):
        if encoder_hidden_states is not None and self.store.mode is not None:
            self.store.observe(self.name, attention_probs(attn, hidden_states, encoder_hidden_states, attention_mask))
        extra = {k: v for k, v in (("temb", temb), ("rotary_emb", rotary_emb)) if v is not None}
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, **extra)


class CrossAttentionStore:
    """Processors on a backbone's cross-attention layers: ``record`` the maps of one forward pass, or
    ``compare`` them with recorded ones (the loss accumulates). A context manager: the layers get their
    own processors back on exit."""

    def __init__(self, backbone: Backbone, layers: Sequence[str] = ()):
        found = backbone.cross_attention_layers()
        if not found:
            raise MusicMagusError(
                f"the backbone {backbone.spec or type(backbone).__name__} has no cross-attention "
                "layers: MusicMagus constrains cross-attention maps; use an AudioLDM2 or SAO-family model"
            )
        chosen = {n: m for n, m in found.items() if not layers or any(f in n for f in layers)}
        if not chosen:
            raise MusicMagusError(
                f"musicmagus.layers {list(layers)} match none of the backbone's cross-attention "
                f"layers ({', '.join(list(found)[:4])}, ...); use [] for all"
            )
        self.layers = chosen
        self.mode: str | None = None
        self.maps: dict[str, torch.Tensor] = {}
        self.reference: dict[str, torch.Tensor] = {}
        self.losses: list[torch.Tensor] = []
        self._saved: dict[str, object] = {}

    def __enter__(self) -> CrossAttentionStore:
        for name, module in self.layers.items():
            self._saved[name] = module.processor
            module.set_processor(_Observer(name, module.processor, self))
        return self

    def __exit__(self, *exc) -> None:
        for name, module in self.layers.items():
            module.set_processor(self._saved.pop(name))
        self.mode = None

    def observe(self, name: str, probs: torch.Tensor) -> None:
        if self.mode == "record":
            self.maps[name] = probs.detach()
        elif self.mode == "compare":
            ref = self.reference[name]
            # per sample of the CFG batch [halves * B]: sum over (queries, keys), mean over heads
            self.losses.append(((probs - ref) ** 2).sum(dim=(-1, -2)).mean(dim=-1))

    def loss(self, batch: int) -> torch.Tensor:
        """Per edit ``[B]``: the summed-over-layers map distance, averaged over the CFG halves."""
        total = torch.stack(self.losses).sum(dim=0)  # [halves * B]
        return total.view(-1, batch).mean(dim=0)


# -- the direction ------------------------------------------------------------------------------------
def caption_direction(
    backbone: Backbone, source_captions: Sequence[str], target_captions: Sequence[str], settings: MusicMagusSettings
) -> torch.Tensor:
    """``[1, L + 2, D]``: scale * (mean target caption embedding - mean source caption embedding)."""
    n = settings.encode_length
    src = backbone.encode_text(list(source_captions), n).mean(dim=0, keepdim=True)
    tgt = backbone.encode_text(list(target_captions), n).mean(dim=0, keepdim=True)
    return settings.direction_scale * (tgt - src)


def fit_length(direction: torch.Tensor, length: int) -> torch.Tensor:
    """The direction truncated, or padded with zeros, to ``length`` tokens (the reference's branch)."""
    if direction.shape[1] >= length:
        return direction[:, :length]
    pad = direction.new_zeros(direction.shape[0], length - direction.shape[1], direction.shape[2])
    return torch.cat([direction, pad], dim=1)


def edited_conditioning(source: Conditioning, target: Conditioning, direction: torch.Tensor) -> Conditioning:
    """The target prompt's conditioning with its text stream replaced by the source's shifted text."""
    text = source.text + fit_length(direction.to(source.text), source.text.shape[1])
    return target.replace(**{f: getattr(source, f) for f in source.text_fields if f != "text"}, text=text)


# -- the edit -------------------------------------------------------------------------------------------
@dataclass
class MusicMagusEdit:
    """One edit done: target, its prompt, audio ``[ch, samples]``, NFE and the constraint's loss per step."""

    target: str
    target_prompt: str
    audio: torch.Tensor
    nfe: int
    losses: list[float] = field(default_factory=list)  # loss before each constrained step's SGD update


class Constraint:
    """The per-step latent update of the edited run (a :data:`difftone.engine.loop.LatentGuide`)."""

    def __init__(
        self,
        editor: Editor,
        store: CrossAttentionStore,
        trajectory: Trajectory,
        source_cond: Conditioning,
        settings: MusicMagusSettings,
    ):
        self.editor, self.store, self.trajectory = editor, store, trajectory
        self.source_cond, self.settings = source_cond, settings
        self.losses: list[float] = []

    def reference_maps(self, step: int, schedule: Schedule, batch: int) -> dict[str, torch.Tensor]:
        x = self.trajectory.latents[step].unsqueeze(0).expand(batch, -1, -1).to(self.editor.backbone.device)
        self.store.mode, self.store.maps = "record", {}
        with torch.no_grad():
            self.editor.predict(
                x,
                step,
                schedule,
                self.source_cond.expand(batch) if len(self.source_cond) == 1 else self.source_cond,
                self.trajectory.guidance_scale,
            )
        self.store.mode = None
        return dict(self.store.maps)

    def loss(
        self,
        step: int,
        latents: torch.Tensor,
        schedule: Schedule,
        cond: Conditioning,
        reference: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per edit ``[B]`` cross-attention loss of ``latents`` (grad flows to them when they require it)."""
        b = int(latents.shape[0])
        ref = dict(reference) if reference is not None else self.reference_maps(step, schedule, b)
        self.store.mode, self.store.reference, self.store.losses = "compare", ref, []
        try:
            self.editor.predict(latents, step, schedule, cond, self.trajectory.guidance_scale)
            return self.store.loss(b)
        finally:
            self.store.mode, self.store.losses = None, []

    def update(
        self,
        step: int,
        latents: torch.Tensor,
        schedule: Schedule,
        cond: Conditioning,
        reference: Mapping[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the denoiser's input ``c * x`` (the reference's ``x_in``, DDIM's c = 1), as a
        latent update ``x - step_size * grad_x / c**2``; returns it and the loss before."""
        x_in = latents.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = self.loss(step, x_in, schedule, cond, reference)
            (grad,) = torch.autograd.grad(loss.sum(), x_in)
        c = float(self.editor.backbone.input_scale(schedule, step))
        return (x_in - self.settings.step_size * grad / c**2).detach(), loss.detach()

    def __call__(self, step: int, latents: torch.Tensor, schedule: Schedule, cond: Conditioning) -> torch.Tensor:
        if not self.settings.constrained(step, self.trajectory.steps):
            return latents
        updated, loss = self.update(step, latents, schedule, cond)
        self.losses.append(float(loss.mean()))
        return updated


def check_captions(captions: Mapping[str, Sequence[str]], source: str, target: str, where: str = "captions") -> None:
    """Each of the two instrument codes has at least one caption, else one message naming what is missing."""
    for code in (source, target):
        if not captions.get(code):
            have = ", ".join(sorted(k for k, v in captions.items() if v)) or "none"
            raise MusicMagusError(
                f"{where}: no captions for {code} ({instrument(code).name}); the caption sets "
                f"have {have}: add {code} to the captions stage's instruments (musicmagus.pairs)"
            )


def musicmagus_edit(
    editor: Editor,
    trajectory: Trajectory,
    source: str,
    target: str,
    captions: Mapping[str, Sequence[str]],
    settings: MusicMagusSettings = MusicMagusSettings(),
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> MusicMagusEdit:
    """Edit the source generation ``trajectory`` (instrument ``source``) into ``target`` with MusicMagus.

    ``captions``: IRMAS code -> captions (:func:`difftone.captions.read_captions`). The edited run
    starts from the source's initial latent x_0 with the same seed (the same noise on a stochastic
    sampler), under the edited conditioning, with the cross-attention constraint before each step."""
    source, target = instrument(source).code, instrument(target).code
    check_captions(captions, source, target)
    editor.check_trajectory(trajectory)
    if trajectory.latents.shape[0] != trajectory.steps + 1:
        raise EditError(f"the trajectory of {trajectory.prompt!r} lacks its cached latents; regenerate it")
    backbone = editor.backbone
    target_prompt = swap_instrument(trajectory.prompt, source, target, synonyms)
    direction = caption_direction(backbone, captions[source], captions[target], settings)
    src_cond = editor.encode([trajectory.prompt], trajectory.duration)
    cond = edited_conditioning(src_cond, editor.encode([target_prompt], trajectory.duration), direction)
    nfe0 = editor.nfe
    with CrossAttentionStore(backbone, settings.layers) as store:
        constraint = Constraint(editor, store, trajectory, src_cond, settings)
        result = editor.denoise(
            trajectory.latents[0].unsqueeze(0),
            cond,
            [trajectory.seed],
            trajectory.steps,
            trajectory.guidance_scale,
            trajectory.latent_frames,
            guide=constraint,
        )
    audio = editor.decode(result.latents, trajectory.duration)[0]
    log.info(
        "musicmagus %s -> %s: %d NFE, loss %.4g -> %.4g",
        source,
        target,
        editor.nfe - nfe0,
        constraint.losses[0] if constraint.losses else float("nan"),
        constraint.losses[-1] if constraint.losses else float("nan"),
    )
    return MusicMagusEdit(target, target_prompt, audio, editor.nfe - nfe0, constraint.losses)
