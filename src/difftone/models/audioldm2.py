"""AudioLDM2 (``AudioLDM2Pipeline``'s components) as a :class:`difftone.models.backbone.Backbone`.

MusicMagus' backbone (``cvssp/audioldm2`` in the reference notebook, ``cvssp/audioldm2-music``
one config key away). The operations follow ``AudioLDM2Pipeline.__call__``:

- ``encode_prompts``: the pipeline's own ``encode_prompt`` (CLAP text + FLAN-T5 -> projection
  -> GPT-2 "generated" tokens; T5 states and mask), once for the prompts and once for the
  negative prompt (the unconditional half, ``negative_prompt``, "low quality" in the notebook).
  ``Conditioning.text`` is the T5 stream (the one MusicMagus shifts, with its mask in
  ``text_fields``); T5 states are padded with zeros (mask 0) to ``text_tokens`` so that
  conditionings of different prompts batch (padded keys are masked out).
- ``predict``: CFG batch ``[uncond; cond]``, ``unet(x, t, encoder_hidden_states=generated,
  encoder_hidden_states_1=t5, encoder_attention_mask_1=mask)``, epsilon; x0_hat =
  ``(x - sqrt(1 - a_t) eps) / sqrt(a_t)`` (what DDIM's step uses).
- ``DDIMScheduler`` with eta 0 (deterministic: ``noise=`` is ignored, there is no noise term);
  ``sigmas`` reports ``sqrt((1 - a) / a)`` of each step (0 for the final x_N).
- Latents ``[B, C, T, F]`` (time frames x mel bins / 4) are carried as ``[B, C * F, T]`` so that
  the engine's ``[B, C, W]`` contract (time last) holds; decode: VAE -> mel -> SpeechT5 HiFi-GAN.

Specs: ``audioldm2-tiny`` (the real classes, small, seeded random weights, offline, built from
constructors as diffusers' own pipeline tests build them), a hub id starting ``cvssp/audioldm2``
or a local snapshot with ``model_index.json`` naming ``AudioLDM2Pipeline``.
:func:`save_tiny_snapshot` writes the tiny weights as such a snapshot (``AudioLDM2Pipeline.save_pretrained``,
with tokenizers in the formats of ``cvssp/audioldm2``'s; the rehearsal's stand-in of that repository);
:func:`save_real_size_snapshot` writes one at the hub's real size from its published configs (random weights).
Both keep the hub's quirks: ``model_index.json`` names the language model ``GPT2Model`` (the loader reads it as
``GPT2LMHeadModel``: :func:`load_language_model`) and the CLAP config says ``torch_dtype: float64`` (the loader
passes the dtype asked for to every component: :func:`check_dtypes`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from difftone.models.backbone import Conditioning, Prediction, cross_attention_modules
from difftone.models.hub import parameter_counts

log = logging.getLogger(__name__)
TINY_SPEC = "audioldm2-tiny"
HUB_PREFIX = "cvssp/audioldm2"
NEGATIVE_PROMPT = "low quality"  # the notebook's negative prompt
DDIM_ETA = 0.0
# the pipeline's components that hold weights
MODEL_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "projection_model", "language_model", "vocoder")


def is_audioldm2_spec(spec: str) -> bool:
    spec = str(spec).strip()
    if spec == TINY_SPEC or spec.startswith(HUB_PREFIX):
        return True
    index = Path(spec).expanduser() / "model_index.json"
    if index.is_file():
        try:
            return json.loads(index.read_text()).get("_class_name") == "AudioLDM2Pipeline"
        except (OSError, ValueError):
            return False
    return False


@dataclass
class AudioLDM2Conditioning(Conditioning):
    """Cond half: ``text`` T5 states [B, L, 1024] and ``text_mask`` [B, L]; ``generated`` GPT-2 tokens [B, 8, 768];
    the unconditional half (negative prompt) in ``uncond_*``."""

    text_mask: torch.Tensor
    generated: torch.Tensor
    uncond_text: torch.Tensor
    uncond_mask: torch.Tensor
    uncond_generated: torch.Tensor
    text_fields = ("text", "text_mask")


class AudioLDM2Schedule:
    """A fresh ``DDIMScheduler`` set to ``steps`` (eta 0)."""

    order = 1
    noise_bounds = (0.0, 0.0)  # deterministic: no noise drawn

    def __init__(self, template, steps: int, device):
        self.scheduler = type(template).from_config(template.config)
        self.scheduler.set_timesteps(int(steps), device=device)
        self.steps = int(steps)
        self.timesteps = self.scheduler.timesteps
        a = self.scheduler.alphas_cumprod
        self.sigmas = [float(math.sqrt((1 - a[t]) / a[t])) for t in self.timesteps.tolist()] + [0.0]

    def start(
        self, latents: torch.Tensor, seeds: Sequence[int], step: int = 0, prev_x0: torch.Tensor | None = None
    ) -> None:
        """DDIM needs no state to resume: each step reads only x_i and its own timestep."""

    def noise_scale(self, step: int) -> float:
        """DDIM with eta 0 has no noise term (edit-friendly inversion refuses this sampler)."""
        return 0.0


@dataclass
class AudioLDM2Backbone:
    pipeline: Any  # diffusers AudioLDM2Pipeline (its components)
    window_seconds: float = 10.24
    text_tokens: int = 64
    negative_prompt: str = NEGATIVE_PROMPT
    spec: str = ""

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def unet(self):
        return self.pipeline.unet

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.pipeline.unet

    @property
    def device(self) -> torch.device:
        return self.pipeline.unet.device

    @property
    def sample_rate(self) -> int:
        return int(self.pipeline.vocoder.config.sampling_rate)

    @property
    def _scale(self) -> int:
        return int(self.pipeline.vae_scale_factor)

    @property
    def mel_bins(self) -> int:
        return int(self.pipeline.vocoder.config.model_in_dim)

    @property
    def _frame_seconds(self) -> float:
        """Seconds per latent time frame (the pipeline's vocoder upsample factor x VAE scale)."""
        voc = self.pipeline.vocoder.config
        return float(math.prod(voc.upsample_rates)) / voc.sampling_rate * self._scale

    @property
    def _shape4(self) -> tuple[int, int, int]:
        c = int(self.unet.config.in_channels)
        return c, self.window_frames, self.mel_bins // self._scale

    @property
    def latent_channels(self) -> int:
        c, _, f = self._shape4
        return c * f

    @property
    def window_frames(self) -> int:
        height = int(round(self.window_seconds / (self._frame_seconds / self._scale)))
        height = -(-height // self._scale) * self._scale  # the pipeline rounds up to the VAE's factor
        return height // self._scale

    @property
    def max_duration(self) -> float:
        return self.window_frames * self._frame_seconds

    @property
    def hop_length(self) -> int:
        """Audio samples per latent time frame."""
        return int(round(self._frame_seconds * self.sample_rate))

    def frames_for(self, duration: float) -> int:
        return min(self.window_frames, int(math.ceil(duration / self._frame_seconds)))

    def cross_attention_layers(self) -> dict[str, torch.nn.Module]:
        """Every ``attn2`` of the UNet: both streams (GPT-2 tokens and T5 states), as the reference's."""
        return cross_attention_modules(self.unet)

    # -- layout ----------------------------------------------------------------------------------
    def to4(self, x: torch.Tensor) -> torch.Tensor:
        c, t, f = self._shape4
        return x.reshape(x.shape[0], c, f, t).transpose(2, 3)

    def to3(self, x: torch.Tensor) -> torch.Tensor:
        c, t, f = self._shape4
        return x.transpose(2, 3).reshape(x.shape[0], c * f, t)

    # -- conditioning ----------------------------------------------------------------------------
    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            t5, mask, generated = self.pipeline.encode_prompt(prompts, self.device, 1, False)
        n = self.text_tokens
        if t5.shape[1] > n:
            t5, mask = t5[:, :n], mask[:, :n]
        pad = n - t5.shape[1]
        t5 = torch.nn.functional.pad(t5.float(), (0, 0, 0, pad))
        mask = torch.nn.functional.pad(mask, (0, pad))
        return t5, mask, generated.float()

    def encode_prompts(self, prompts: Sequence[str], duration: float) -> AudioLDM2Conditioning:
        prompts = list(prompts)
        text, mask, gen = self._encode(prompts)
        u_text, u_mask, u_gen = self._encode([self.negative_prompt] * len(prompts))
        return AudioLDM2Conditioning(text, mask, gen, u_text, u_mask, u_gen)

    def encode_text(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """FLAN-T5 states of ``texts`` at exactly ``length`` tokens (the reference's ``fix_length``)."""
        p = self.pipeline
        tok = p.tokenizer_2(
            list(texts), padding="max_length", max_length=int(length), truncation=True, return_tensors="pt"
        )
        with torch.no_grad():
            return p.text_encoder_2(tok.input_ids.to(self.device), attention_mask=tok.attention_mask.to(self.device))[
                0
            ].float()

    # -- noise and schedule ------------------------------------------------------------------------
    def window_for(self, duration: float) -> int:
        """The UNet always denoises its whole window."""
        return self.window_frames

    def initial_noise(self, seeds: Sequence[int], frames: int | None = None) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        if frames is not None and int(frames) != self.window_frames:
            raise ValueError(f"AudioLDM2 denoises its whole window ({self.window_frames} frames), not {frames}")

        c, t, f = self._shape4
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        noise = randn_tensor(
            (len(seeds), c, t, f), generator=generators, device=torch.device("cpu"), dtype=torch.float32
        )
        return self.to3(noise).to(self.device) * self.pipeline.scheduler.init_noise_sigma

    def new_schedule(self, steps: int) -> AudioLDM2Schedule:
        return AudioLDM2Schedule(self.pipeline.scheduler, steps, self.device)

    def input_scale(self, schedule: AudioLDM2Schedule, step: int) -> float:
        return 1.0  # DDIM's scale_model_input is the identity

    # -- the denoiser ----------------------------------------------------------------------------------
    def predict(
        self,
        latents: torch.Tensor,
        step: int,
        schedule: AudioLDM2Schedule,
        cond: AudioLDM2Conditioning,
        guidance_scale: float,
    ) -> Prediction:
        s = schedule.scheduler
        t = s.timesteps[step]
        cfg = guidance_scale > 1.0
        x = latents.to(device=self.device, dtype=torch.float32)
        x4 = self.to4(x)
        if cfg:
            model_input = torch.cat([x4, x4])
            gen = torch.cat([cond.uncond_generated, cond.generated])
            text = torch.cat([cond.uncond_text, cond.text])
            mask = torch.cat([cond.uncond_mask, cond.text_mask])
        else:
            model_input, gen, text, mask = x4, cond.generated, cond.text, cond.text_mask
        dtype = self.unet.dtype
        eps = self.unet(
            s.scale_model_input(model_input, t).to(dtype),
            t,
            encoder_hidden_states=gen.to(dtype),
            encoder_hidden_states_1=text.to(dtype),
            encoder_attention_mask_1=mask,
            return_dict=False,
        )[0].float()
        if cfg:
            e_uncond, e_cond = eps.chunk(2)
            eps = e_uncond + guidance_scale * (e_cond - e_uncond)
        a = s.alphas_cumprod[int(t)].to(x.device, torch.float32)
        eps3 = self.to3(eps)
        return Prediction(eps3, (x - (1 - a).sqrt() * eps3) / a.sqrt())

    def step(
        self,
        schedule: AudioLDM2Schedule,
        prediction: Prediction,
        step: int,
        latents: torch.Tensor,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        s = schedule.scheduler
        out = s.step(self.to4(prediction.output), s.timesteps[step], self.to4(latents), eta=DDIM_ETA).prev_sample
        return self.to3(out)

    # -- audio ----------------------------------------------------------------------------------------
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        p = self.pipeline
        with torch.no_grad():
            x4 = self.to4(latents.to(self.device)).to(p.vae.dtype) / p.vae.config.scaling_factor
            mel = p.vae.decode(x4).sample
            wave = p.mel_spectrogram_to_waveform(mel)
        return wave.float().reshape(wave.shape[0], 1, -1)

    def encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("AudioLDM2's mel front end is not wired here: sources are generated from seeds")


# -- loading ---------------------------------------------------------------------------------------------
def load_audioldm2(
    spec: str, dtype: torch.dtype = torch.float32, device: str = "cpu", window_seconds: float | None = None
) -> AudioLDM2Backbone:
    """The backbone of an AudioLDM2 spec (module docstring); ``DDIMScheduler`` replaces the checkpoint's."""
    from diffusers import AudioLDM2Pipeline, DDIMScheduler

    if spec == TINY_SPEC:
        pipe = AudioLDM2Pipeline(**build_tiny_audioldm2())
        window, tokens = window_seconds or 2.0, 16
    else:
        from difftone.models.hub import ModelLoadError, hub_token
        from difftone.models.hub import looks_local as _looks_local

        try:
            source = str(Path(spec).expanduser()) if _looks_local(spec) else spec
            language_model = load_language_model(source, dtype, hub_token())
            pipe = AudioLDM2Pipeline.from_pretrained(
                source, language_model=language_model, dtype=dtype, token=hub_token()
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"cannot load the AudioLDM2 model {spec!r}: {exc} (a hub id like "
                f"{HUB_PREFIX}, or a local snapshot of it; `fetch_models` downloads it)"
            ) from None
        window, tokens = window_seconds or 10.24, 64
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    check_dtypes(pipe, dtype)
    pipe = pipe.to(device)
    for name in MODEL_COMPONENTS:
        getattr(pipe, name).eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    backbone = AudioLDM2Backbone(pipe, window_seconds=window, text_tokens=tokens, spec=spec)
    log.info(
        "loaded AudioLDM2 %s: %s on %s, window %.2f s, %d latent channels",
        spec,
        str(dtype).split(".")[-1],
        device,
        backbone.max_duration,
        backbone.latent_channels,
    )
    log.info(
        "AudioLDM2 parameters: %s",
        parameter_counts(
            {name: getattr(pipe, name) for name in ("unet", "vae", "text_encoder", "text_encoder_2", "language_model")}
        ),
    )
    return backbone


def load_language_model(source: str, dtype: torch.dtype, token=None):
    """``language_model/`` of an AudioLDM2 snapshot (or hub id) as ``GPT2LMHeadModel`` at ``dtype``.

    ``cvssp/audioldm2``'s ``model_index.json`` names ``GPT2Model``, but the pipeline's ``generate_language_model``
    calls generation helpers (``_update_model_kwargs_for_generation``, ...) that in transformers 5 only
    ``GPT2LMHeadModel`` has. The weights are the same: a ``GPT2Model`` file's keys load under the head model's
    ``transformer.`` prefix, and ``lm_head`` is tied to the token embeddings (``generate_language_model`` never
    reads it: it takes the last hidden state). Any other missing or unexpected key is refused."""
    from transformers import GPT2LMHeadModel

    model, info = GPT2LMHeadModel.from_pretrained(
        source, subfolder="language_model", dtype=dtype, token=token, output_loading_info=True
    )
    missing = sorted(set(info["missing_keys"]) - {"lm_head.weight"})
    wrong = (
        missing
        + sorted(info["unexpected_keys"])
        + sorted(k[0] if isinstance(k, tuple) else k for k in info["mismatched_keys"])
    )
    if wrong:
        raise ValueError(
            f"{source}/language_model does not hold GPT-2 weights the pipeline can use (missing, "
            f"unexpected or mismatched: {', '.join(map(str, wrong[:8]))}); re-download the snapshot"
        )
    log.info(
        "AudioLDM2 language_model: loaded as GPT2LMHeadModel (the pipeline's generation helpers), lm_head tied "
        "to the token embeddings, no missing weights"
    )
    return model


def check_dtypes(pipe, dtype: torch.dtype) -> None:
    """Every weight component at ``dtype``: a component a config pins to another dtype (``cvssp/audioldm2``'s CLAP
    ``text_encoder`` says ``torch_dtype: float64``) is cast, and the cast is logged."""
    for name in MODEL_COMPONENTS:
        module = getattr(pipe, name)
        have = {p.dtype for p in module.parameters()}
        if have != {dtype}:
            log.info(
                "AudioLDM2 %s: %s cast to %s",
                name,
                "/".join(sorted(str(d).split(".")[-1] for d in have)),
                str(dtype).split(".")[-1],
            )
            module.to(dtype=dtype)


def _word_tokenizer(kind, words_tokenizer):
    """``kind`` (RobertaTokenizerFast / T5TokenizerFast: the classes the pipeline checks for) around the
    offline word-level tokenizer of :func:`difftone.models.tiny.word_tokenizer`."""
    return kind(
        tokenizer_object=words_tokenizer.backend_tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="</s>",
        model_max_length=words_tokenizer.model_max_length,
        padding_side="right",
    )


def build_tiny_audioldm2(seed: int = 0) -> dict[str, Any]:
    """``AudioLDM2Pipeline``'s eleven components, small (the sizes of diffusers' pipeline tests), seeded."""
    from diffusers import AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel, AutoencoderKL, DDIMScheduler
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        RobertaTokenizerFast,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
        T5TokenizerFast,
    )

    from difftone.models.tiny import word_tokenizer

    words = word_tokenizer(model_max_length=32)
    tokenizer, tokenizer_2 = _word_tokenizer(RobertaTokenizerFast, words), _word_tokenizer(T5TokenizerFast, words)
    vocab = max(len(tokenizer), len(tokenizer_2))  # the wrappers may add special tokens (<mask>)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = AudioLDM2UNet2DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=(8, 16),
        )
        vae = AutoencoderKL(
            block_out_channels=[8, 16],
            in_channels=1,
            out_channels=1,
            norm_num_groups=8,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
            latent_channels=4,
        )
        text_config = ClapTextConfig(
            bos_token_id=1,
            eos_token_id=1,
            hidden_size=8,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=1,
            num_hidden_layers=1,
            pad_token_id=0,
            vocab_size=vocab,
            projection_dim=8,
        )
        audio_config = ClapAudioConfig(
            spec_size=8,
            window_size=4,
            num_mel_bins=8,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            depths=[1, 1],
            num_attention_heads=[1, 1],
            num_hidden_layers=1,
            hidden_size=192,
            projection_dim=8,
            patch_size=2,
            patch_stride=2,
            patch_embed_input_channels=4,
        )
        text_encoder = ClapModel(
            ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), projection_dim=16)
        )
        text_encoder_2 = T5EncoderModel(
            T5Config(
                vocab_size=vocab, d_model=32, d_ff=37, d_kv=8, num_heads=2, num_layers=2, pad_token_id=0, eos_token_id=1
            )
        )
        language_model = GPT2LMHeadModel(
            GPT2Config(
                n_embd=16,
                n_head=2,
                n_layer=2,
                vocab_size=vocab,
                n_ctx=99,
                bos_token_id=1,
                eos_token_id=1,
                n_positions=99,
            )
        )
        language_model.config.max_new_tokens = 8
        projection_model = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
        vocoder = SpeechT5HifiGan(
            SpeechT5HifiGanConfig(
                model_in_dim=8,
                sampling_rate=16000,
                upsample_initial_channel=16,
                upsample_rates=[8, 8],
                upsample_kernel_sizes=[16, 16],
                resblock_kernel_sizes=[3, 7],
                resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
                normalize_before=False,
            )
        )
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "projection_model": projection_model,
        "language_model": language_model,
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer_2,
        "feature_extractor": ClapFeatureExtractor(feature_size=8, hop_length=7900),
        "unet": unet,
        "scheduler": DDIMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False
        ),
        "vocoder": vocoder,
    }


# -- the tiny weights as a snapshot (the rehearsal's stand-in of cvssp/audioldm2) ---------------------------------
SNAPSHOT_MAX_TOKENS = 32  # both tokenizers' model_max_length (the real ones: 512), as the tiny spec's


def snapshot_tokenizers(vocab_size: int):
    """``tokenizer`` and ``tokenizer_2`` in the formats of ``cvssp/audioldm2``'s, which reload from a saved folder
    (the word-level ones of :func:`build_tiny_audioldm2` do not: transformers' ``T5Tokenizer`` rebuilds a Unigram
    model from ``tokenizer.json``): RoBERTa's byte-level BPE (:func:`difftone.classifiers.judge.tiny_clap_tokenizer`,
    128 ids) and T5's Unigram, ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, then the tiny words as ``\u2581word`` pieces and
    the punctuation (no extra ids; uppercase letters, which it has no piece for, become ``<unk>``). Both fit the
    tiny text encoders' ``vocab_size``."""
    from transformers import RobertaTokenizerFast, T5TokenizerFast

    from difftone.classifiers.judge import tiny_clap_tokenizer
    from difftone.models.tiny import EOS, PAD, PUNCTUATION, UNK, base_vocabulary

    clap = tiny_clap_tokenizer()
    roberta = RobertaTokenizerFast(
        tokenizer_object=clap.backend_tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=SNAPSHOT_MAX_TOKENS,
    )
    pieces = [(PAD, 0.0), (EOS, 0.0), (UNK, 0.0), ("\u2581", -4.0)]
    pieces += [(w, -2.0) if w in PUNCTUATION else ("\u2581" + w, -1.0) for w in base_vocabulary()]
    t5 = T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=SNAPSHOT_MAX_TOKENS, padding_side="right")
    for tok in (roberta, t5):
        if len(tok) > vocab_size:
            raise ValueError(f"{type(tok).__name__} has {len(tok)} ids, more than the tiny vocabulary ({vocab_size})")
    return roberta, t5


def save_tiny_snapshot(out_dir: str | Path, seed: int = 0) -> Path:
    """The tiny AudioLDM2 (:func:`build_tiny_audioldm2`'s weights, :func:`snapshot_tokenizers`) written by
    ``AudioLDM2Pipeline.save_pretrained`` in diffusers' layout (``model_index.json`` + one folder per component,
    safetensors weights); ``load_audioldm2(out_dir)`` reads it back.

    ``language_model/config.json`` keeps ``max_new_tokens`` (8), where ``cvssp/audioldm2`` keeps it and where the
    pipeline reads it (``language_model.config.max_new_tokens``): transformers 5 refuses to save a generation
    parameter in a model config, so it is taken off for ``save_pretrained`` and written into the file after."""
    from diffusers import AudioLDM2Pipeline

    out = Path(out_dir)
    parts = build_tiny_audioldm2(seed)
    vocab = min(parts["text_encoder"].config.text_config.vocab_size, parts["text_encoder_2"].config.vocab_size)
    parts["tokenizer"], parts["tokenizer_2"] = snapshot_tokenizers(vocab)
    parts["language_model"] = parts["language_model"].transformer  # the hub's class: GPT2Model, no LM head
    lm_config = parts["language_model"].config
    max_new_tokens = int(lm_config.max_new_tokens)
    del lm_config.max_new_tokens
    AudioLDM2Pipeline(**parts).save_pretrained(out, safe_serialization=True)
    hub_config_entries(out, max_new_tokens)
    return out


# model_index.json's entries where cvssp/audioldm2's differ from what save_pretrained writes here
HUB_INDEX_CLASSES = {
    "language_model": ["transformers", "GPT2Model"],
    "tokenizer": ["transformers", "RobertaTokenizerFast"],
    "tokenizer_2": ["transformers", "T5TokenizerFast"],
}


def hub_config_entries(snapshot: Path, max_new_tokens: int) -> None:
    """Write into a saved snapshot the entries ``cvssp/audioldm2`` has and ``save_pretrained`` does not write:
    ``model_index.json``'s class names (:data:`HUB_INDEX_CLASSES`: ``GPT2Model``, the fast tokenizers),
    ``language_model``'s ``max_new_tokens`` (transformers 5 refuses to save a generation parameter in a model
    config) and ``text_encoder``'s ``torch_dtype: float64`` (the dtype a loader gets unless it names one)."""
    index_path = Path(snapshot) / "model_index.json"
    index = json.loads(index_path.read_text())
    index.update(HUB_INDEX_CLASSES)
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    for component, entries in (
        ("language_model", {"max_new_tokens": int(max_new_tokens)}),
        ("text_encoder", {"torch_dtype": "float64"}),
    ):
        path = Path(snapshot) / component / "config.json"
        config = json.loads(path.read_text())
        config.pop("dtype", None)  # transformers 5's name of torch_dtype
        config.update(entries)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# -- a snapshot at cvssp/audioldm2's real size (random weights), from its published configs ----------------------------
T5_PIECES = 32000  # the T5 Unigram's pieces before the 100 sentinel ids (32100 ids in all, as flan-t5-large's)


def real_size_t5_tokenizer():
    """A T5 Unigram tokenizer with flan-t5-large's id layout, built offline: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2,
    the tiny words (lowercase and capitalised) as ``\u2581word`` pieces, letters, digits and punctuation, filler
    pieces that never match up to 32000, then ``<extra_id_99>`` .. ``<extra_id_0>`` at 32000 .. 32099."""
    import string

    from transformers import T5TokenizerFast

    from difftone.models.tiny import EOS, PAD, PUNCTUATION, UNK, base_vocabulary

    words = [w for w in base_vocabulary() if w not in PUNCTUATION]
    pieces = [(PAD, 0.0), (EOS, 0.0), (UNK, 0.0), ("\u2581", -4.0)]
    pieces += [("\u2581" + w, -1.0) for w in words] + [
        ("\u2581" + w.capitalize(), -1.0) for w in words if w.capitalize() != w
    ]
    singles = list(string.ascii_letters + string.digits) + list(PUNCTUATION)
    pieces += [(c, -3.0) for c in singles] + [("\u2581" + c, -3.5) for c in singles]
    pieces = list(dict(pieces).items())  # a capitalised word may already be there
    pieces += [(f"\ue000{i}", -100.0) for i in range(T5_PIECES - len(pieces))]  # private-use: never in a prompt
    tok = T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512, padding_side="right")
    tok.add_special_tokens({"additional_special_tokens": [f"<extra_id_{i}>" for i in range(99, -1, -1)]})
    return tok


def _real_size_builders() -> dict[str, Any]:
    """Component name -> a function building it with random weights from its ``config.json`` (a dict)."""
    from diffusers import AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel, AutoencoderKL
    from transformers import (
        ClapConfig,
        ClapModel,
        GPT2Config,
        GPT2Model,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )

    def hf(model_cls, config_cls):
        # generation parameters (max_new_tokens) stay in the copied config.json: transformers 5 refuses to save them
        return lambda c: model_cls(config_cls.from_dict({k: v for k, v in c.items() if k != "max_new_tokens"}))

    return {
        "unet": AudioLDM2UNet2DConditionModel.from_config,
        "vae": AutoencoderKL.from_config,
        "text_encoder": hf(ClapModel, ClapConfig),
        "text_encoder_2": hf(T5EncoderModel, T5Config),
        "projection_model": AudioLDM2ProjectionModel.from_config,
        "language_model": hf(GPT2Model, GPT2Config),  # the hub's class (model_index.json)
        "vocoder": hf(SpeechT5HifiGan, SpeechT5HifiGanConfig),
    }


def save_real_size_snapshot(out_dir: str | Path, configs: str | Path, seed: int = 0) -> Path:
    """A snapshot of ``cvssp/audioldm2`` at its real size (1.118 B parameters, float32 safetensors, about 4.5 GB)
    with random seeded weights: each weight component built from ``configs/<component>/config.json`` (the hub's
    published configs in the hub's layout, ``tests/fixtures/audioldm2-configs``) and saved one at a time (peak
    memory: the largest, the UNet, 1.4 GB); then every config file of ``configs`` copied over verbatim
    (``model_index.json`` naming ``GPT2Model``, the CLAP config's ``torch_dtype: float64``, ``max_new_tokens``).
    Tokenizers are built offline in the real formats: RoBERTa's byte-level BPE
    (:func:`difftone.classifiers.judge.tiny_clap_tokenizer`) and :func:`real_size_t5_tokenizer`."""
    from difftone.classifiers.judge import tiny_clap_tokenizer

    configs, out = Path(configs), Path(out_dir)
    if not (configs / "model_index.json").is_file():
        raise FileNotFoundError(
            f"{configs}: no model_index.json; give the folder of cvssp/audioldm2's configs in the "
            "hub's layout (tests/fixtures/audioldm2-configs)"
        )
    for i, (name, build) in enumerate(_real_size_builders().items()):
        path = configs / name / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; the configs folder must hold every component's config.json")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            model = build(json.loads(path.read_text()))
        model.save_pretrained(out / name, safe_serialization=True)
        log.info("real-size AudioLDM2 %s: %.1f M parameters", name, sum(p.numel() for p in model.parameters()) / 1e6)
        del model
    backend = tiny_clap_tokenizer().backend_tokenizer
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    backend.save(str(out / "tokenizer" / "tokenizer.json"))
    backend.model.save(str(out / "tokenizer"))  # vocab.json, merges.txt
    real_size_t5_tokenizer().save_pretrained(out / "tokenizer_2")
    for f in configs.rglob("*.json"):
        (out / f.relative_to(configs)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, out / f.relative_to(configs))
    return out
