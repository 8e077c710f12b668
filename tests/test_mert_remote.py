"""MERT through its own remote code: a snapshot in ``m-a-p/MERT-v1-95M``'s layout (config.json with
``auto_map``, ``configuration_MERT.py``, ``modeling_MERT.py``, preprocessor_config.json, random
weights; difftone/resources/mert_remote, written by difftone.rehearsal.write_mert_snapshot), small,
loaded by the project's loader with ``trust_remote_code``. Like the real model, its ``forward``
calls the HuBERT encoder itself, so transformers 5 hands back no ``hidden_states``; the loader
must still return transformers' own ``HubertModel`` hidden states for the same weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, HubertConfig, HubertModel

from difftone.classifiers import MertLoadError, load_mert
from difftone.classifiers.teacher_features import load_teacher_features
from difftone.rehearsal import MERT_SIZES, write_mert_snapshot

LAYERS, WIDTH = MERT_SIZES["tiny"]["num_hidden_layers"], MERT_SIZES["tiny"]["hidden_size"]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_mert_snapshot(tmp_path_factory.mktemp("mert") / "MERT-v1-95M", "tiny", seed=0)


def _wave(seconds: float = 1.0, sr: int = 24000) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, (1, int(seconds * sr))).astype(np.float32)


def _hubert_with_the_same_weights(model) -> HubertModel:
    """transformers' own HubertModel built from the remote model's options, holding its weights (all keys)."""
    options = {k: v for k, v in model.config.to_dict().items() if k not in ("auto_map", "architectures", "model_type")}
    hubert = HubertModel(HubertConfig(**options)).eval()
    hubert.load_state_dict(model.state_dict(), strict=True)
    return hubert


def test_snapshot_has_the_hub_repository_layout(snapshot):
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "config.json",
        "configuration_MERT.py",
        "model.safetensors",
        "modeling_MERT.py",
        "preprocessor_config.json",
    ]
    config = json.loads((snapshot / "config.json").read_text())
    assert config["model_type"] == "mert_model" and config["architectures"] == ["MERTModel"]
    assert config["auto_map"] == {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"}
    assert (config["hidden_size"], config["num_hidden_layers"]) == (WIDTH, LAYERS)
    assert "conv_pos_batch_norm" not in config  # as published: the loader has to set it
    pre = json.loads((snapshot / "preprocessor_config.json").read_text())
    assert (pre["feature_extractor_type"], pre["sampling_rate"], pre["do_normalize"]) == (
        "Wav2Vec2FeatureExtractor",
        24000,
        True,
    )
    remote = AutoConfig.from_pretrained(snapshot, trust_remote_code=True)
    assert type(remote).__name__ == "MERTConfig" and not hasattr(remote, "conv_pos_batch_norm")


def test_real_size_config_is_mert_v1_95m():
    from importlib import resources

    config = json.loads((resources.files("difftone") / "resources" / "mert_remote" / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (768, 12, 12)
    assert config["conv_dim"] == [512] * 7 and config["conv_stride"] == [5, 2, 2, 2, 2, 2, 2]
    assert config["conv_kernel"] == [10, 3, 3, 3, 3, 2, 2] and config["feat_proj_layer_norm"] is True
    assert (config["feature_extractor_cqt"], config["deepnorm"], config["do_stable_layer_norm"]) == (
        False,
        False,
        False,
    )


def test_remote_code_model_gives_transformers_hubert_hidden_states(snapshot):
    mert = load_teacher_features("mert", str(snapshot), None, 24000, None, "cpu")
    model = mert.model
    assert type(model).__name__ == "MERTModel" and type(model) is not HubertModel and isinstance(model, HubertModel)
    assert type(model).__module__.startswith("transformers_modules")  # the snapshot's own code, not ours
    assert model.config.conv_pos_batch_norm is False  # set by the loader
    assert (mert.num_layers, mert.hidden_size, mert.sample_rate) == (LAYERS + 1, WIDTH, 24000)

    wave = _wave()
    values = mert.processor(list(mert.prepare(wave, 24000)), sampling_rate=24000, return_tensors="pt")["input_values"]
    with torch.no_grad():
        assert model(values, output_hidden_states=True).hidden_states is None  # the trap the loader must avoid
        reference = torch.stack(
            _hubert_with_the_same_weights(model)(values, output_hidden_states=True).hidden_states, 1
        )

    hidden = mert.hidden_states(wave, 24000)
    assert hidden.shape == (1, LAYERS + 1, 74, WIDTH) == reference.shape  # 75 frames/s (less the conv's edge)
    assert torch.equal(hidden, reference)
    assert torch.equal(load_mert(str(snapshot), layers=[0, -1]).hidden_states(wave, 24000), reference[:, [0, -1]])


def test_local_folder_error_does_not_suggest_downloading_the_folder(tmp_path):
    with pytest.raises(MertLoadError, match="configuration_MERT.py") as err:
        load_mert(str(tmp_path))
    assert "download" not in str(err.value).split("\n", 1)[1]
    with pytest.raises(MertLoadError, match="is not a folder"):
        load_mert(str(tmp_path / "missing" / "mert"))


def test_hub_id_error_says_how_to_download_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MertLoadError, match="hf download m-a-p/MERT-v1-95M --revision abc123"):
        load_mert("m-a-p/MERT-v1-95M", revision="abc123")
