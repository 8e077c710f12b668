"""The one loader: tiny components, local snapshots in the real layout, errors a user can fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from difftone.models import ModelLoadError, SAOBackbone, load_sao, loader
from difftone.models.tiny import base_vocabulary, word_tokenizer

# the real diffusers configs of stabilityai/stable-audio-open-1.0 (provenance: SOURCES.md there)
FIXTURE = Path(__file__).parent / "fixtures" / "stable-audio-open-1.0-configs"

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tiny_components) -> SAOBackbone:
    return tiny_components


def test_tiny_builds_the_real_classes_with_real_audio_geometry(tiny):
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioProjectionModel,
    )
    from transformers import T5EncoderModel

    assert isinstance(tiny.transformer, StableAudioDiTModel)
    assert isinstance(tiny.vae, AutoencoderOobleck)
    assert isinstance(tiny.text_encoder, T5EncoderModel)
    assert isinstance(tiny.projection_model, StableAudioProjectionModel)
    assert isinstance(tiny.scheduler, CosineDPMSolverMultistepScheduler)
    assert tiny.sample_rate == 44100 and tiny.hop_length == 2048 and tiny.vae.config.audio_channels == 2
    assert tiny.latent_rate == pytest.approx(44100 / 2048)
    assert tiny.frames_for(3.0) == 65  # as the real model: ceil(132300 / 2048)
    assert tiny.max_duration == pytest.approx(256 * 2048 / 44100)
    assert tiny.scheduler.config.sigma_min == 0.3 and tiny.scheduler.config.sigma_max == 500
    assert not any(p.requires_grad for p in tiny.transformer.parameters())


def test_encode_decode_shapes(tiny):
    wave = torch.randn(2, 2, 3 * 44100) * 0.1
    latents = tiny.encode_audio(wave)
    # Oobleck's strided convs floor: 132300 samples -> 64 frames (frames_for(3.0) = 65 covers the audio)
    assert latents.shape == (2, tiny.latent_channels, 64) and tiny.latent_channels == 8
    # posterior mode: deterministic
    assert torch.equal(latents, tiny.encode_audio(wave))
    audio = tiny.decode(latents)
    assert audio.shape == (2, 2, 64 * 2048)
    assert torch.isfinite(audio).all()


def test_tiny_weights_are_seeded_and_leave_global_rng_alone(tiny):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = load_sao("tiny")
    assert torch.equal(torch.rand(3), expected)
    for a, b in zip(tiny.transformer.state_dict().values(), again.transformer.state_dict().values()):
        assert torch.equal(a, b)


def test_word_tokenizer_is_deterministic_and_word_level():
    tok = word_tokenizer()
    ids = tok("A soft Piano melody, with SAX!").input_ids
    assert ids[-1] == tok.eos_token_id == 1 and tok.pad_token_id == 0 and tok.unk_token_id == 2
    assert tok.convert_ids_to_tokens(ids) == ["a", "soft", "piano", "melody", ",", "with", "sax", "!", "</s>"]
    assert tok("acoustic guitar").input_ids == word_tokenizer()("acoustic guitar").input_ids
    assert tok("zzzq").input_ids == [2, 1]
    for word in ("cello", "violoncello", "acoustic", "guitar", "saxophone", "trumpet", "vocals"):
        assert tok.convert_tokens_to_ids(word) != tok.unk_token_id, word
    # extra words come after the base vocabulary: base ids never move
    extra = word_tokenizer(extra_words=["Theremin", "piano"])
    assert extra.convert_tokens_to_ids("piano") == tok.convert_tokens_to_ids("piano")
    assert extra.convert_tokens_to_ids("theremin") == 3 + len(base_vocabulary())
    padded = tok(["a piano"], padding="max_length", max_length=8).input_ids[0]
    assert padded[3:] == [0] * 5


def test_snapshot_roundtrip_in_the_real_layout(tiny, tmp_path):
    root = loader.save_snapshot(tiny, tmp_path / "snap")
    index = json.loads((root / "model_index.json").read_text())
    real = json.loads((FIXTURE / "model_index.json").read_text())
    assert {k: v for k, v in index.items() if not k.startswith("_")}.keys() == {
        k for k in real if not k.startswith("_")
    }
    for name in loader.COMPONENT_NAMES:
        real_files = {p.name for p in (FIXTURE / name).glob("*config.json")}
        assert real_files <= {p.name for p in (root / name).iterdir()}, name
    loaded = load_sao(str(root))
    for name in ("transformer", "vae", "text_encoder", "projection_model"):
        a, b = getattr(tiny, name).state_dict(), getattr(loaded, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert loaded.tokenizer("a soft piano melody").input_ids == tiny.tokenizer("a soft piano melody").input_ids
    assert loaded.scheduler.config.sigma_max == tiny.scheduler.config.sigma_max


def test_real_configs_are_read_from_the_fixture_layout():
    from accelerate import init_empty_weights
    from diffusers import StableAudioDiTModel

    config = json.loads((FIXTURE / "transformer" / "config.json").read_text())
    assert {k: v for k, v in config.items() if not k.startswith("_")} == loader.SAO_TRANSFORMER_CONFIG
    with init_empty_weights():
        dit = StableAudioDiTModel.from_config(config)
    n = sum(p.numel() for p in dit.parameters())
    assert 1.0e9 < n < 1.1e9  # ~1.06 B parameters
    # the layout is accepted up to the weights, which the fixture does not have
    with pytest.raises(ModelLoadError, match=r"no weights in transformer/"):
        loader.read_snapshot_configs(FIXTURE)


def test_snapshot_errors_name_the_problem(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_sao(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        load_sao(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        load_sao("tiny", dtype="float64")


def test_gated_hub_id_without_token_says_to_set_hf_token(monkeypatch):
    from huggingface_hub.errors import GatedRepoError

    def gated(*args, **kwargs):
        err = GatedRepoError.__new__(GatedRepoError)
        Exception.__init__(err, "401 gated")
        raise err

    monkeypatch.setattr("huggingface_hub.snapshot_download", gated)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(ModelLoadError, match="HF_TOKEN is not set"):
        load_sao("stabilityai/stable-audio-open-1.0")


def test_hub_download_asks_only_for_diffusers_files(monkeypatch, tmp_path, tiny):
    seen = {}
    root = loader.save_snapshot(tiny, tmp_path / "cache")

    def fake_download(repo_id, allow_patterns, token):
        seen.update(repo_id=repo_id, allow_patterns=allow_patterns, token=token)
        return str(root)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_download)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    loaded = load_sao("stabilityai/stable-audio-open-1.0")
    assert seen["repo_id"] == "stabilityai/stable-audio-open-1.0" and seen["token"] == "hf_test"
    assert "model.ckpt" not in seen["allow_patterns"] and "transformer/*.safetensors" in seen["allow_patterns"]
    assert loaded.window_frames == tiny.window_frames


def test_demo_dispatch():
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_sao("demo:/nonexistent/demo/ckpt")
    components = load_sao("demo")
    assert components.spec == "demo" and components.sample_rate > 0 and components.max_duration > 0


def test_model_settings_come_from_a_rules_dict_or_a_spec_and_load_the_backbone():
    from difftone.models import ModelSettings

    rule = {
        "spec": "tiny",
        "dtype": "float32",
        "device": "cpu",
        "compile": False,
        "window": "duration",
        "window_margin": 4,
    }
    settings = ModelSettings.of(rule)
    assert settings.as_dict() == rule and ModelSettings.of(settings) is settings
    assert ModelSettings.of("tiny") == ModelSettings(spec="tiny")
    backbone = settings.load()
    assert backbone.spec == "tiny" and backbone.window_for(0.5) == backbone.frames_for(0.5) + 4
    with pytest.raises(ModelLoadError, match="unknown: device_id"):
        ModelSettings.of({**rule, "device_id": 0})
    with pytest.raises(ModelLoadError, match="give spec"):
        ModelSettings.of({"dtype": "float32"})
