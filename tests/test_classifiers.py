"""Classifiers: shapes, training behaviour, checkpoints, feature caches, Table I, bad inputs.

Synthetic caches stand in for MERT features and SAO latents where the point is the
training code; the tiny MERT and the demo/tiny SAO encoders are used where the
point is the feature extraction. Everything runs on CPU in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from difftone import audio
from difftone.classifiers import (
    CheckpointError,
    ClassifierHead,
    LogMelExtractor,
    TeacherEncoder,
    distill_student,
    encode_sao_latents,
    extract_mert_features,
    extract_teacher_features,
    load_latent_classifier,
    load_mert,
    load_teacher,
    load_teacher_classifier,
    load_teacher_features,
    tiny_latent_classifier,
    train_baseline,
    train_student_head,
    train_teacher,
    write_table1,
)
from difftone.classifiers.cache import CacheError, read_clip, write_clip
from difftone.classifiers.checkpoint import save_checkpoint
from difftone.classifiers.train import StageParams, accuracy, fit

torch.set_num_threads(1)

CLASSES = ["cel", "flu", "pia", "vio"]
ARCH = dict(frames=4, feature_dim=16, head_hidden=16, lstm_size=16, dropout=0.1, student_channels=4)
MERT_LAYERS, MERT_DIM = 5, 64  # the tiny MERT's shape, so the teacher also hears audio
LATENT_CHANNELS = 3


# ---------------------------------------------------------------- fixtures


def _write_cache(root, name, make, n_train=10, n_val=5, seed=0, n_test=5):
    """A cache manifest + clip files where each clip's tensor is ``make(class_index, rng)``."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, code in enumerate(CLASSES):
        for i in range(n_train + n_val + n_test):
            path = f"clips/{code}/{code}{i:03d}.wav"
            f = f"clips/{code}-{i}.safetensors"
            x = torch.from_numpy(make(k, rng, i)).to(torch.float16 if name == "mert" else torch.float32)
            (root / name / "clips").mkdir(parents=True, exist_ok=True)
            write_clip(root / name / f, x, "synthetic")
            rows.append(
                dict(
                    path=path,
                    instrument=code,
                    split="train" if i < n_train else ("val" if i < n_train + n_val else "test"),
                    file=f,
                    frames=x.shape[-2 if name == "mert" else -1],
                )
            )
    pd.DataFrame(rows).to_csv(root / name / "index.csv", index=False)
    return root / name / "index.csv"


def _mert_clip(k, rng, i):
    x = rng.normal(0, 1, (MERT_LAYERS, 20, MERT_DIM)).astype(np.float32)
    x[:, :, 8 * k : 8 * k + 8] += 2.0  # class k lives in its own features
    return x


def _latent_clip(k, rng, i):
    x = rng.normal(0, 1, (LATENT_CHANNELS, 16)).astype(np.float32)
    x[k % LATENT_CHANNELS] += 2.0 if k < LATENT_CHANNELS else -2.0  # 4 classes on 3 channels
    return x


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The three classifiers trained through the library's stage functions on synthetic caches."""
    root = tmp_path_factory.mktemp("clf")
    mert = _write_cache(root, "mert", _mert_clip)
    lat = _write_cache(root, "latents", _latent_clip)
    spec = {"spec": "tiny", "revision": None, "sample_rate": 24000, "layers": None}
    p = dict(epochs=30, lr=3e-3, patience=10, batch_size=8)
    train_teacher(mert, root / "teacher", CLASSES, spec, ARCH, p)
    distill_student(root / "teacher", mert, lat, root / "student", ARCH, dict(p, epochs=40))
    train_student_head(root / "student", lat, root / "distilled", ARCH, p)
    train_baseline(lat, root / "non-distilled", CLASSES, ARCH, p)
    return root


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("frames", [1, 2, 7, 64, 65, 300])
def test_latent_classifier_accepts_any_length(frames):
    clf = tiny_latent_classifier(5, CLASSES, seed=0, frames=4, feature_dim=16, channels=4)
    x = torch.randn(3, 5, frames)
    assert clf.student(x).shape == (3, 4, 16)  # shaped like the teacher representation
    logits = clf(x)
    assert logits.shape == (3, len(CLASSES)) and torch.isfinite(logits).all()
    assert clf.instruments == CLASSES and not any(p.requires_grad for p in clf.parameters())


def test_tiny_latent_classifier_is_seeded():
    a, b = tiny_latent_classifier(4, CLASSES, seed=3), tiny_latent_classifier(4, CLASSES, seed=3)
    c = tiny_latent_classifier(4, CLASSES, seed=4)
    x = torch.randn(2, 4, 10)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_latent_classifier_rejects_wrong_channels():
    clf = tiny_latent_classifier(4, CLASSES)
    with pytest.raises(ValueError, match=r"latents \[batch, 4, frames >= 1\]"):
        clf(torch.randn(1, 3, 10))
    with pytest.raises(ValueError):
        clf(torch.randn(1, 4, 0))


@pytest.mark.parametrize("frames", [1, 5, 20, 57])
def test_teacher_encoder_shapes(frames):
    enc = TeacherEncoder(num_layers=3, hidden_size=12, frames_in=20, frames=4, feature_dim=16)
    assert enc(torch.randn(2, 3, frames, 12)).shape == (2, 4, 16)
    assert torch.allclose(enc.layer_weights().sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="MERT hidden states"):
        enc(torch.randn(2, 4, frames, 12))


def test_tiny_mert_has_mert_interface():
    mert = load_mert("tiny")
    assert (mert.num_layers, mert.hidden_size, mert.sample_rate) == (MERT_LAYERS, MERT_DIM, 24000)
    wave = np.random.default_rng(0).normal(0, 0.1, (2, 44100)).astype(np.float32)  # 1 s stereo at 44.1 kHz
    h = mert.hidden_states(wave, 44100)
    assert h.shape[:2] == (1, MERT_LAYERS) and h.shape[3] == MERT_DIM
    assert abs(h.shape[2] - 75) <= 1  # 75 frames/s like MERT
    assert mert.hidden_states(wave[:, :10], 44100).shape[2] == 1  # very short audio still gives a frame
    assert torch.equal(load_mert("tiny").hidden_states(wave, 44100), h)  # seeded stand-in
    # the states recorded by hooks are HubertModel's own output_hidden_states
    values = mert.processor(list(mert.prepare(wave, 44100)), sampling_rate=24000, return_tensors="pt")["input_values"]
    with torch.no_grad():
        assert torch.equal(torch.stack(mert.model(values, output_hidden_states=True).hidden_states, 1), h)
    assert load_mert("tiny", layers=[0, -1]).hidden_states(wave, 44100).shape[1] == 2
    with pytest.raises(ValueError, match="out of range"):
        load_mert("tiny", layers=[9])


# ---------------------------------------------------------------- training


def test_head_learns_separable_set():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(40)
    x = torch.randn(160, 4, 16, generator=g)
    x[torch.arange(160), :, y * 4] += 3.0
    head = ClassifierHead(16, 4, hidden=16, lstm_size=16, dropout=0.1)
    ds = torch.utils.data.TensorDataset
    hist = fit(
        head,
        ds(x[:120], y[:120]),
        ds(x[120:], y[120:]),
        torch.nn.functional.cross_entropy,
        StageParams(epochs=40, lr=5e-3, patience=10, batch_size=16),
        torch.device("cpu"),
        0,
        "head",
        accuracy,
    )
    assert hist["val_acc"].max() >= 0.9  # chance is 0.25
    assert accuracy(head(x[120:]), y[120:]) == hist["val_acc"].max()  # best epoch's weights kept


def test_stages_learn_well_above_chance(trained):
    summaries = {
        n: json.loads((trained / n / "config.json").read_text())["summary"]
        for n in ("teacher", "distilled", "non-distilled")
    }
    for name, s in summaries.items():
        assert s["val_acc"] >= 0.8, (name, s)  # chance is 0.25
    for name in ("teacher", "student", "distilled", "non-distilled"):
        assert (trained / name / "history.csv").is_file()


def test_distillation_lowers_cosine_loss(trained):
    hist = pd.read_csv(trained / "student" / "history.csv")
    assert hist["val_loss"].min() < 0.5 * hist["val_loss"].iloc[0]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]


def test_distilled_classifier_is_the_frozen_student(trained):
    from safetensors.torch import load_file

    student = load_file(trained / "student" / "model.safetensors")
    distilled = load_file(trained / "distilled" / "model.safetensors")
    for k, v in student.items():
        assert torch.equal(distilled[f"student.{k}"], v)  # the head was trained on a frozen student


def test_training_is_deterministic_on_cpu(tmp_path):
    lat = _write_cache(tmp_path, "latents", _latent_clip, n_train=4, n_val=2)
    p = dict(epochs=3, lr=1e-3, patience=3, batch_size=4)
    a = train_baseline(lat, tmp_path / "a", CLASSES, ARCH, p, seed=5)
    b = train_baseline(lat, tmp_path / "b", CLASSES, ARCH, p, seed=5)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(trained):
    clf = load_latent_classifier(trained / "distilled")
    same = load_latent_classifier(trained / "distilled" / "model.safetensors")
    x = torch.randn(2, LATENT_CHANNELS, 11)
    assert torch.equal(clf(x), same(x))
    assert clf.instruments == CLASSES and not clf.training
    assert len(clf.predict(x)) == 2 and set(clf.predict(x)) <= set(CLASSES)
    teacher, config = load_teacher(trained / "teacher")
    assert config["mert"]["spec"] == "tiny" and config["encoder"]["frames_in"] == 20
    saved = trained / "resaved"
    save_checkpoint(clf, "latent_classifier", clf.checkpoint_config(), saved)
    assert torch.equal(load_latent_classifier(saved)(x), clf(x))
    assert not list(saved.glob(".*tmp*"))  # nothing half-written left behind


def test_checkpoint_errors(trained, tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_latent_classifier(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="holds a 'teacher', expected latent_classifier"):
        load_latent_classifier(trained / "teacher")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((trained / "distilled" / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_latent_classifier(bad)


# ---------------------------------------------------------------- feature caches


@pytest.fixture()
def clip_index(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for k, code in enumerate(["pia", "vio"]):
        for i, split in enumerate(["train", "train", "val"]):
            t = np.arange(int(0.5 * 44100)) / 44100
            wave = 0.3 * np.sin(2 * np.pi * (220 + 110 * k) * t)[None].repeat(2, 0) + rng.normal(0, 0.01, (2, t.size))
            path = tmp_path / "audio" / f"{code}{i}.wav"
            audio.write(path, wave.astype(np.float32), 44100)
            rows.append(
                dict(
                    path=str(path),
                    instrument=code,
                    genre="cla",
                    drums="nod",
                    duration=0.5,
                    sample_rate=44100,
                    split=split,
                )
            )
    pd.DataFrame(rows).to_csv(tmp_path / "index.csv", index=False)
    return tmp_path / "index.csv"


def test_mert_features_cached_once_and_reused(clip_index, tmp_path, caplog):
    out = tmp_path / "mert" / "index.csv"
    extract_mert_features(clip_index, out, spec="tiny", batch_size=2)
    man = pd.read_csv(out)
    assert list(man.columns) == ["path", "instrument", "split", "file", "frames"] and len(man) == 6
    x = read_clip(out.parent / man["file"][0])
    assert x.dtype == torch.float16 and x.shape == (MERT_LAYERS, man["frames"][0], MERT_DIM)
    mtimes = {f: (out.parent / f).stat().st_mtime_ns for f in man["file"]}
    caplog.set_level("INFO", logger="difftone")
    extract_mert_features(clip_index, out, spec="tiny")
    assert "6 cached, 0 to compute" in caplog.text
    assert all((out.parent / f).stat().st_mtime_ns == t for f, t in mtimes.items())
    # another layer selection is another fingerprint: recomputed
    extract_mert_features(clip_index, out, spec="tiny", layers=[0, 4])
    assert "0 cached, 6 to compute" in caplog.text
    assert read_clip(out.parent / man["file"][0]).shape[0] == 2


@pytest.mark.parametrize("spec", ["demo", "tiny"])
def test_sao_latents_cached_with_the_models_channels(clip_index, tmp_path, spec):
    from difftone.models import load_sao

    components = load_sao(spec)
    out = tmp_path / spec / "index.csv"
    encode_sao_latents(clip_index, out, model_spec=spec, components=components)
    man = pd.read_csv(out)
    x = read_clip(out.parent / man["file"][0])
    wave, _ = audio.load(man["path"][0], components.sample_rate, 2)
    ref = components.encode_audio(torch.from_numpy(wave)[None])[0]
    assert torch.allclose(x, ref.float(), atol=1e-5)
    assert x.shape[0] == ref.shape[0]  # channels read from the model (64 for demo, few for tiny)
    # a classifier for these latents takes them whatever their length
    clf = tiny_latent_classifier(x.shape[0], ["pia", "vio"])
    assert clf(x[None]).shape == (1, 2) and clf(x[None, :, :1]).shape == (1, 2)


def test_bad_inputs_are_named(clip_index, tmp_path):
    df = pd.read_csv(clip_index)
    df.drop(columns=["split"]).to_csv(tmp_path / "nosplit.csv", index=False)
    with pytest.raises(CacheError, match="nosplit.csv lacks column"):
        extract_mert_features(tmp_path / "nosplit.csv", tmp_path / "m" / "index.csv")
    with pytest.raises(CacheError, match="does not exist"):
        extract_mert_features(tmp_path / "missing.csv", tmp_path / "m" / "index.csv")
    broken = tmp_path / "audio" / "broken.wav"
    broken.write_bytes(b"RIFF not a wav")
    df.loc[0, "path"] = str(broken)
    df.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(audio.AudioError, match="broken.wav"):
        extract_mert_features(tmp_path / "broken.csv", tmp_path / "m2" / "index.csv")
    assert not (tmp_path / "m2" / "index.csv").exists()


def test_cuda_config_without_cuda_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="config device is 'cuda' but CUDA is not available here; set `device: cpu`"):
        train_baseline(tmp_path / "x.csv", tmp_path / "o", CLASSES, ARCH, {}, device="cuda")


def test_teacher_rejects_other_mert(trained):
    from difftone.classifiers.teacher import TeacherAudioClassifier

    teacher, _ = load_teacher(trained / "teacher")
    with pytest.raises(ValueError, match="give 2 layers of 64"):
        TeacherAudioClassifier(teacher, load_mert("tiny", layers=[0, 1]))


# ---------------------------------------------------------------- teacher on audio, Table I


def test_teacher_classifies_audio(trained):
    clf = load_teacher_classifier(trained / "teacher")
    probs = clf.predict_audio(np.zeros((2, 44100), np.float32) + 0.01, 44100)
    assert probs.shape == (1, len(CLASSES)) and torch.allclose(probs.sum(-1), torch.ones(1))
    batch = clf.predict_audio(torch.randn(3, 1, 30000) * 0.1, 24000)
    assert batch.shape == (3, len(CLASSES))


def test_table1(trained, clip_index, tmp_path):
    from difftone.models import load_sao

    mert_man, lat_man = trained / "mert" / "index.csv", trained / "latents" / "index.csv"
    args = (trained / "teacher", trained / "distilled", trained / "non-distilled", mert_man, lat_man)
    table = write_table1(*args, tmp_path / "table1.csv", tmp_path / "figs", n_boot=200)
    assert list(table.columns) == ["classifier", "eval_set", "accuracy", "ci_low", "ci_high", "n", "selected_by"]
    assert list(table["classifier"]) == ["teacher", "distilled", "non-distilled"]
    assert set(table["eval_set"]) == {"irmas_test"} and set(table["selected_by"]) == {"val"}  # held out
    assert (table["n"] == 4 * 5).all() and (table["accuracy"] >= 0.8).all()
    assert ((table["ci_low"] <= table["accuracy"]) & (table["accuracy"] <= table["ci_high"])).all()
    for name in table["classifier"]:
        assert (tmp_path / "figs" / f"confusion_{name}.png").stat().st_size > 1000
    # the generated set: each generation labelled by its prompt's instrument (words or codes)
    gen = pd.read_csv(clip_index)[["path", "instrument"]].iloc[:4]
    gen["instrument"] = ["piano", "pia", "violin", "vio"]
    gen.to_csv(tmp_path / "generated.csv", index=False)
    lat3 = type("Stand-in", (), {})()  # an encoder whose latents have the classifiers' 3 channels
    demo = load_sao("demo")
    lat3.sample_rate, lat3.vae = demo.sample_rate, demo.vae
    lat3.encode_audio = lambda w: demo.encode_audio(w)[:, :LATENT_CHANNELS]
    table = write_table1(
        *args,
        tmp_path / "table1g.csv",
        tmp_path / "figs",
        generated_csv=tmp_path / "generated.csv",
        components=lat3,
        n_boot=200,
    )
    gen_rows = table[table["eval_set"] == "generated"]
    assert len(gen_rows) == 3 and (gen_rows["n"] == 4).all()
    gen.loc[0, "instrument"] = "banjo"
    gen.to_csv(tmp_path / "generated_bad.csv", index=False)
    with pytest.raises(KeyError, match="unknown instrument 'banjo'"):
        write_table1(
            *args, tmp_path / "t.csv", tmp_path / "figs", generated_csv=tmp_path / "generated_bad.csv", components=lat3
        )
    assert not (tmp_path / "t.csv").exists()


# ---------------------------------------------------------------- log-mel teacher features


def test_logmel_features_have_the_mert_interface_and_hear_pitch():
    ex = load_teacher_features("logmel")
    assert (ex.num_layers, ex.hidden_size, ex.sample_rate) == (1, 64, 22050)
    t = np.arange(44100) / 44100
    low, high = (np.sin(2 * np.pi * f * t)[None].astype(np.float32) * 0.5 for f in (220.0, 2000.0))
    h = ex.hidden_states(np.stack([low, high]), 44100)
    assert h.shape == (2, 1, 44, 64)  # 1 s at 22.05 kHz, hop 512, centred frames
    peak_band = h[:, 0].mean(1).argmax(-1)
    assert peak_band[1] > peak_band[0] + 10  # the 2 kHz tone lights bands far above the 220 Hz one
    # level-scaled audio differs only by a constant in the loud bands (log): the teacher's layer norm removes it
    louder = ex.hidden_states(np.stack([low * 1.5]), 44100)[0, 0, 10]
    quiet = h[0, 0, 10]
    loud_bands = quiet > quiet.max() - 6
    assert torch.allclose(
        (louder - quiet)[loud_bands], torch.full_like(quiet[loud_bands], float(np.log(2.25))), atol=1e-3
    )


def test_logmel_teacher_is_cached_trained_and_loaded_as_an_audio_classifier(clip_index, tmp_path):
    out = tmp_path / "teacher_features" / "index.csv"
    extract_teacher_features(clip_index, out, kind="logmel", sample_rate=22050)
    man = pd.read_csv(out)
    assert read_clip(out.parent / man["file"][0]).shape == (1, man["frames"][0], 64)
    feats = {"kind": "logmel", "spec": "tiny", "revision": None, "sample_rate": 22050, "layers": None}
    train_teacher(
        out, tmp_path / "teacher", ["pia", "vio"], feats, ARCH, dict(epochs=30, lr=3e-3, patience=30, batch_size=4)
    )
    clf = load_teacher_classifier(tmp_path / "teacher")
    assert isinstance(clf.mert, LogMelExtractor)
    wave, _ = audio.load(pd.read_csv(clip_index)["path"][0])
    assert clf.predict_audio(wave, 44100).argmax(-1).item() == 0  # a pia training clip (a 220 Hz tone)
    with pytest.raises(ValueError, match="teacher_features.kind 'clap' is not one of mert, logmel"):
        load_teacher_features("clap")
