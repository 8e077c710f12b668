"""Round-trip augmentation of the teacher's training data (``teacher_features.roundtrip: demo``, issue 12).

The demo autoencoder is built from the demo training clips' statistics without training (it must equal
the trained checkpoint's VAE); the cached round-trip features are the features of
``vae.decode(vae.encode(x))``; the teacher trains on clean + round-tripped train clips, selects on clean +
round-tripped val clips, and never sees a test clip; the key off leaves the clean manifest as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from difftone import audio
from difftone.classifiers import (
    LogMelExtractor,
    extract_roundtrip_teacher_features,
    extract_teacher_features,
    load_teacher,
    train_teacher,
)
from difftone.classifiers.cache import read_clip
from difftone.classifiers.train import teacher_training_sets
from difftone.demo_training import DemoTrainingSettings, demo_autoencoder, train_demo_model
from difftone.models import load_sao
from difftone.models.demo import MelAutoencoder

torch.set_num_threads(1)

SR = 44100
CODES = ["pia", "vio"]
SPLITS = ["train", "train", "train", "val", "test"]
FEATS = {"kind": "logmel", "spec": "tiny", "revision": None, "sample_rate": 22050, "layers": None, "roundtrip": "demo"}
ARCH = dict(frames=4, feature_dim=16, head_hidden=16, lstm_size=16, dropout=0.1)
STAGE = dict(epochs=3, lr=3e-3, patience=3, batch_size=4)


@pytest.fixture(scope="module")
def clip_index(tmp_path_factory):
    """Two instruments, five 1-second clips each (3 train, 1 val, 1 test): harmonic tones with noise."""
    root = tmp_path_factory.mktemp("roundtrip")
    rng = np.random.default_rng(0)
    rows = []
    t = np.arange(SR) / SR
    for k, code in enumerate(CODES):
        for i, split in enumerate(SPLITS):
            f0 = (220.0 if k == 0 else 440.0) * 2 ** (i / 12)
            tone = sum(np.sin(2 * np.pi * h * f0 * t) / h ** (1 + k) for h in range(1, 6)) * np.exp(-2 * t)
            wave = 0.3 * tone[None].repeat(2, 0) + rng.normal(0, 0.005, (2, t.size))
            path = root / "audio" / f"{code}{i}.wav"
            audio.write(path, wave.astype(np.float32), SR)
            rows.append(
                dict(
                    path=str(path),
                    instrument=code,
                    genre="cla",
                    drums="nod",
                    duration=1.0,
                    sample_rate=SR,
                    channels=2,
                    recording=f"{code}{i}",
                    split=split,
                )
            )
    pd.DataFrame(rows).to_csv(root / "index.csv", index=False)
    return root / "index.csv"


@pytest.fixture(scope="module")
def autoencoder(clip_index):
    return demo_autoencoder(clip_index, CODES, {"clip_seconds": 1.0, "seed": 0})


@pytest.fixture(scope="module")
def caches(clip_index, autoencoder, tmp_path_factory):
    root = tmp_path_factory.mktemp("caches")
    clean, rt = root / "teacher" / "index.csv", root / "teacher_roundtrip" / "index.csv"
    extract_teacher_features(clip_index, clean, kind="logmel", sample_rate=22050)
    extract_roundtrip_teacher_features(
        clip_index, rt, autoencoder, "demo", kind="logmel", sample_rate=22050, batch_size=1
    )  # each clip alone: the direct computation below is one clip
    return clean, rt


def test_the_autoencoder_built_without_training_is_the_trained_checkpoints(clip_index, autoencoder, tmp_path):
    settings = DemoTrainingSettings(
        budget_seconds=None, max_steps=1, batch_size=2, clip_seconds=1.0, eval_per_instrument=0
    )
    train_demo_model(clip_index, tmp_path / "model", tmp_path / "loss.csv", tmp_path / "loss.png", CODES, settings)
    trained = load_sao(f"demo:{tmp_path / 'model'}").vae
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(autoencoder.config) == public(trained.config)
    assert autoencoder.config.latent_max is not None and autoencoder.config.latent_mean != 0.0
    x = torch.from_numpy(audio.load(pd.read_csv(clip_index)["path"][4], sample_rate=SR, channels=2)[0])[None]
    assert torch.equal(autoencoder.encode(x).latent_dist.mode(), trained.encode(x).latent_dist.mode())


def test_roundtrip_features_are_the_features_of_decode_encode(clip_index, autoencoder, caches):
    _, rt = caches
    man = pd.read_csv(rt)
    assert list(man.columns) == ["path", "instrument", "split", "file", "frames"]  # the clean manifest's contract
    index = pd.read_csv(clip_index)
    assert sorted(man["path"]) == sorted(index.loc[index["split"] != "test", "path"])  # never a test clip
    ex = LogMelExtractor(22050)
    for _, row in man.iterrows():
        wave, _ = audio.load(row["path"], sample_rate=SR, channels=2)
        x = torch.from_numpy(wave)[None]
        decoded = autoencoder.decode(autoencoder.encode(x).latent_dist.mode()).sample
        expected = ex.hidden_states(decoded[..., : x.shape[-1]], SR).half()[0]
        cached = read_clip(rt.parent / row["file"])
        assert torch.equal(cached, expected)
        assert cached.shape[1] == row["frames"]
    # in batches the float arithmetic differs (resampling, BLAS), not the features
    batched = rt.parent.parent / "batched" / "index.csv"
    extract_roundtrip_teacher_features(
        clip_index, batched, autoencoder, "demo", kind="logmel", sample_rate=22050, batch_size=4
    )
    for a, b in zip(pd.read_csv(batched)["file"], man["file"]):
        assert torch.allclose(read_clip(batched.parent / a).float(), read_clip(rt.parent / b).float(), atol=0.05)
    # the round trip changes the features (Griffin-Lim audio is not the clean clip)
    clean = pd.read_csv(caches[0]).set_index("path")
    row = man.iloc[0]
    assert not torch.equal(
        read_clip(rt.parent / row["file"]), read_clip(caches[0].parent / clean.at[row["path"], "file"])
    )


def test_teacher_trains_on_clean_and_roundtripped_clips_and_never_on_test(caches, tmp_path):
    clean, rt = caches
    train, val = teacher_training_sets(clean, CODES, 43, rt)
    rt_dir = rt.parent.resolve()
    for data, split, n in ((train, "train", 3), (val, "val", 1)):
        clean_part, rt_part = data.datasets
        assert len(clean_part) == len(rt_part) == n * len(CODES)
        assert all(f.resolve().parent.parent == rt_dir for f in rt_part.files)
        assert not any(f.resolve().parent.parent == rt_dir for f in clean_part.files)
        assert torch.equal(clean_part.labels, rt_part.labels)
    man = pd.concat([pd.read_csv(clean), pd.read_csv(rt).assign(cache="rt")])
    test_files = {str((clean.parent / f).resolve()) for f in man.loc[man["split"] == "test", "file"]}
    used = {str(f.resolve()) for d in (train, val) for part in d.datasets for f in part.files}
    assert test_files and not (used & test_files)
    # no augmentation: the clean splits only, as before
    train0, val0 = teacher_training_sets(clean, CODES, 43)
    assert len(train0) == 3 * len(CODES) and len(val0) == len(CODES)
    teacher = train_teacher(clean, tmp_path / "teacher", CODES, FEATS, ARCH, STAGE, roundtrip_manifest=rt)
    _, config = load_teacher(tmp_path / "teacher")
    assert config["mert"]["roundtrip"] == "demo" and teacher.instruments == CODES


def test_a_roundtrip_manifest_with_test_clips_or_other_clips_is_refused(caches, tmp_path):
    clean, rt = caches
    bad = pd.read_csv(rt)
    bad.loc[0, "split"] = "test"
    (tmp_path / "a").mkdir()
    bad.to_csv(tmp_path / "a" / "index.csv", index=False)
    with pytest.raises(ValueError, match=r"split\(s\) \['test'\]"):
        teacher_training_sets(clean, CODES, 43, tmp_path / "a" / "index.csv")
    fewer = pd.read_csv(rt).iloc[1:]
    (tmp_path / "b").mkdir()
    fewer.to_csv(tmp_path / "b" / "index.csv", index=False)
    with pytest.raises(ValueError, match="list different train clips"):
        teacher_training_sets(clean, CODES, 43, tmp_path / "b" / "index.csv")


def test_the_clean_manifest_does_not_depend_on_the_roundtrip(clip_index, caches, tmp_path):
    # the clean cache is written by its own function, which has no round-trip argument: with the key
    # off the workflow simply does not run the round-trip rule, and the clean manifest is the old one
    clean, _ = caches
    again = tmp_path / "teacher" / "index.csv"
    extract_teacher_features(clip_index, again, kind="logmel", sample_rate=22050)
    assert pd.read_csv(again).equals(pd.read_csv(clean))
    assert len(pd.read_csv(clean)) == len(SPLITS) * len(CODES)  # every split, the test split too


def test_a_bad_roundtrip_value_names_the_key(clip_index, tmp_path):
    from difftone.config import ConfigError, load_config, validate_config

    with pytest.raises(ConfigError, match="teacher_features.roundtrip: 'oobleck' is not one of"):
        validate_config({"teacher_features": {"roundtrip": "oobleck"}})
    assert validate_config({})["teacher_features"]["roundtrip"] is None  # the schema's default: off
    root = Path(__file__).resolve().parents[1]
    assert load_config(root / "config.yaml")["teacher_features"]["roundtrip"] == "demo"  # the embedded default: on
    paper = yaml.safe_load((root / "configs" / "paper.yaml").read_text())
    assert paper["teacher_features"]["roundtrip"] is None  # SAO's VAE round trip is not written
    with pytest.raises(ValueError, match="teacher_features.roundtrip 'oobleck' is not one of demo"):
        extract_roundtrip_teacher_features(
            clip_index, tmp_path / "x" / "index.csv", MelAutoencoder(), "oobleck", kind="logmel", sample_rate=22050
        )
