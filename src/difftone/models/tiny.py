"""Tiny Stable Audio Open components, built offline from the real classes.

``load_sao("tiny")`` builds the same diffusers/transformers classes as the real
model (``StableAudioDiTModel``, ``AutoencoderOobleck``, ``T5EncoderModel``,
``StableAudioProjectionModel``, ``CosineDPMSolverMultistepScheduler`` with the
real scheduler config), small and with seeded random weights, so that tests and
the embedded default run the same code paths as the real model in seconds.

The tiny VAE keeps the real hop (2048 samples) and 44.1 kHz stereo, so durations
and latent frame counts match the real model; it has 8 latent channels instead of
64 (Oobleck's latent width is half its ``encoder_hidden_size``, the width of its
audio-rate layers) and the window is shorter (``TINY_SAMPLE_SIZE`` frames, about
11.9 s instead of 47.55 s).

Building blocks reused by the demo family (``difftone.models.demo``):
:func:`word_tokenizer` and :func:`tiny_t5_config`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from difftone.instruments import INSTRUMENTS

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"  # ids 0, 1, 2 as in T5

# The real scheduler config of stabilityai/stable-audio-open-1.0 (scheduler/scheduler_config.json).
SAO_SCHEDULER_CONFIG: dict[str, Any] = {
    "euler_at_final": False,
    "final_sigmas_type": "zero",
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "rho": 7.0,
    "sigma_data": 1.0,
    "sigma_max": 500,
    "sigma_min": 0.3,
    "sigma_schedule": "exponential",
    "solver_order": 2,
    "solver_type": "midpoint",
}

TINY_SAMPLE_SIZE = 256  # latent frames of the tiny DiT window (256 * 2048 / 44100 = 11.89 s)
TINY_TEXT_DIM = 32
TINY_MAX_TOKENS = 32
LATENT_CHANNELS = 8  # = encoder_hidden_size / 2 (the encoder outputs mean and scale)

# Common words of music prompts, so that typical prompts tokenize without unknowns.
PROMPT_WORDS: tuple[str, ...] = (
    "a an the of and with in on at by for to from into over under as is it its this that",
    "solo single short long slow fast soft loud gentle bright warm dark mellow smooth rich",
    "clean calm lively sad happy elegant expressive delicate powerful dreamy melancholic",
    "joyful peaceful tender bold heavy light deep high low quiet intimate lyrical playful",
    "energetic upbeat relaxing relaxed haunting emotional romantic epic vibrant airy crisp",
    "note notes melody melodies chord chords phrase phrases line lines tune tunes motif",
    "theme piece sound sounds tone tones played playing plays performance recording sample",
    "music musical track song songs riff riffs arpeggio arpeggios scale scales rhythm beat",
    "groove harmony harmonies accompaniment background lead ballad waltz march improvisation",
    "legato staccato sustained plucked bowed strummed held simple vibrato tremolo pizzicato",
    "classical jazz pop rock folk blues ambient cinematic country latin electronic baroque",
    "funk soul swing bossa nova orchestral chamber minimal modern traditional acoustic",
    "major minor key tempo bpm loop intro outro verse chorus bridge ending opening",
    "instrument instruments ensemble duet trio quartet orchestra band player",
    "one two three four old new little big fine beautiful nice sweet smooth",
)
PUNCTUATION: tuple[str, ...] = (".", ",", "!", "?", ";", ":", "-", "'", '"', "(", ")")


def base_vocabulary() -> list[str]:
    """Instrument words (names and synonyms, split into words) + prompt words + punctuation."""
    words: list[str] = []
    for inst in INSTRUMENTS.values():
        for phrase in (inst.name, *inst.synonyms):
            words.extend(phrase.lower().split())
    for line in PROMPT_WORDS:
        words.extend(line.split())
    return sorted(set(words)) + list(PUNCTUATION)


def word_tokenizer(extra_words: Iterable[str] = (), model_max_length: int = TINY_MAX_TOKENS):
    """A word-level T5-style tokenizer built offline with the ``tokenizers`` library.

    Lowercases, splits on whitespace and punctuation, appends ``</s>``; ids are
    deterministic: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, then :func:`base_vocabulary`
    in order, then ``extra_words`` not already present (lowercased, in the given order).
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {PAD: 0, EOS: 1, UNK: 2}
    for word in [*base_vocabulary(), *(w.lower() for w in extra_words)]:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        model_max_length=model_max_length,
        padding_side="right",
    )


def tiny_t5_config(vocab_size: int, d_model: int = TINY_TEXT_DIM, num_layers: int = 2, num_heads: int = 2):
    """A small ``T5Config`` for a ``T5EncoderModel`` (pad 0, eos 1 as in T5)."""
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=d_model // num_heads,
        d_ff=2 * d_model,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=num_heads,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=TINY_MAX_TOKENS,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        is_encoder_decoder=True,
    )


def tiny_transformer_config(sample_size: int = TINY_SAMPLE_SIZE) -> dict[str, Any]:
    """A 2-layer ``StableAudioDiTModel`` (2 heads x 16) over the tiny VAE's latent channels."""
    return {
        "sample_size": int(sample_size),
        "in_channels": LATENT_CHANNELS,
        "num_layers": 2,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "num_key_value_attention_heads": 1,
        "out_channels": LATENT_CHANNELS,
        "cross_attention_dim": 32,
        "time_proj_dim": 32,
        "global_states_input_dim": 2 * TINY_TEXT_DIM,
        "cross_attention_input_dim": TINY_TEXT_DIM,
    }


def tiny_vae_config() -> dict[str, Any]:
    """``AutoencoderOobleck`` with few channels but the real hop (2*4*4*8*8 = 2048), 44.1 kHz stereo."""
    return {
        "encoder_hidden_size": 2 * LATENT_CHANNELS,
        "downsampling_ratios": [2, 4, 4, 8, 8],
        "channel_multiples": [1, 1, 2, 2, 2],
        "decoder_channels": 4,
        "decoder_input_channels": LATENT_CHANNELS,
        "audio_channels": 2,
        "sampling_rate": 44100,
    }


def build_tiny_components(seed: int = 0, sample_size: int = TINY_SAMPLE_SIZE) -> dict[str, Any]:
    """The six pipeline components, small, with weights drawn from ``seed`` (global RNG untouched)."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioProjectionModel,
    )
    from transformers import T5EncoderModel

    tokenizer = word_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = StableAudioDiTModel(**tiny_transformer_config(sample_size))
        vae = AutoencoderOobleck(**tiny_vae_config())
        text_encoder = T5EncoderModel(tiny_t5_config(len(tokenizer)))
        projection_model = StableAudioProjectionModel(
            text_encoder_dim=TINY_TEXT_DIM, conditioning_dim=TINY_TEXT_DIM, min_value=0, max_value=512
        )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "projection_model": projection_model,
        "scheduler": CosineDPMSolverMultistepScheduler(**SAO_SCHEDULER_CONFIG),
    }
