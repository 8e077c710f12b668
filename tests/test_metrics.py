"""Metrics: chroma distance, KAD vs an independent float64 formula, bootstrap, CLAP conversion and guard."""

import itertools
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from difftone.metrics import (
    EmbeddingCollapseError,
    SourceChromagrams,
    accuracy_ci,
    bootstrap_ci,
    check_not_collapsed,
    chroma_distance,
    chroma_distance_files,
    chroma_frame_distance,
    cluster_bootstrap_ci,
    kad,
    kad_bootstrap_ci,
    load_clap,
    paired_difference_ci,
)
from difftone.metrics import clap as clapmod

torch.set_num_threads(1)
SR = 22050


def tone(freq, seconds=2.0, sr=SR, harmonics=1):
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.5 / h * np.sin(2 * np.pi * freq * h * t) for h in range(1, harmonics + 1)).astype(np.float32)


# ---- chroma ----------------------------------------------------------------------------------


def test_chroma_frame_distance_matches_hand_computation():
    a = np.zeros((12, 3))
    b = np.zeros((12, 3))
    a[0, 0], b[0, 0] = 1.0, 2.0  # same direction: 0
    a[0, 1], b[0, 1], b[7, 1] = 1.0, 1.0, 1.0  # cos = 1/sqrt(2)
    a[4, 2], b[5, 2] = 1.0, 1.0  # disjoint: 1
    expected = (0.0 + (1 - 1 / math.sqrt(2)) + 1.0) / 3
    assert chroma_frame_distance(a, b) == pytest.approx(expected, abs=1e-12)
    # silent frames: both silent counts 0, one silent counts 1
    assert chroma_frame_distance(np.zeros((12, 2)), np.zeros((12, 2))) == 0.0
    assert chroma_frame_distance(np.zeros((12, 1)), np.eye(12)[:, :1]) == 1.0


def test_chroma_distance_orders_pitch_over_timbre():
    a4 = tone(440.0)
    assert chroma_distance(a4, a4, SR) == pytest.approx(0.0, abs=1e-9)
    other_timbre = chroma_distance(tone(440.0, harmonics=4), a4, SR)
    transposed = chroma_distance(tone(440.0 * 2 ** (6 / 12)), a4, SR)  # a tritone up
    assert 0 <= other_timbre < transposed <= 1
    assert transposed > 0.5 and other_timbre < 0.3


def test_chroma_distance_resamples_and_reads_files(tmp_path):
    a4 = tone(440.0)
    sf.write(tmp_path / "src.wav", a4, SR)
    sf.write(tmp_path / "edit.wav", np.stack([tone(440.0, sr=44100)] * 2, axis=1), 44100)  # stereo, other rate
    assert chroma_distance_files(tmp_path / "edit.wav", tmp_path / "src.wav") < 0.05
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="bad.wav"):
        chroma_distance_files(tmp_path / "bad.wav", tmp_path / "src.wav")
    with pytest.raises(ValueError, match="NaN"):
        chroma_distance(np.full(SR, np.nan, dtype=np.float32), a4, SR)
    with pytest.raises(ValueError, match="empty"):
        chroma_distance(np.zeros(0, dtype=np.float32), a4, SR)


def test_source_chromagrams_equal_chroma_distance_and_load_each_source_once():
    sources = {"a": (tone(440.0, sr=44100), 44100), "b": (tone(523.25, sr=44100), 44100)}
    loads = []
    cache = SourceChromagrams(method="stft", target_sr=22050, hop_length=512)
    for key in ("a", "b", "a", "b", "a"):
        for edit, sr in ((tone(440.0, harmonics=4), SR), (tone(466.16, sr=44100), 44100)):

            def load(key=key):
                loads.append(key)
                return sources[key]

            expected = chroma_distance(edit, sources[key][0], sr, source_sr=44100, method="stft")
            assert cache.distance(edit, sr, key, load) == expected
    assert loads == ["a", "b"]


# ---- KAD -------------------------------------------------------------------------------------


def kad_reference(x, y, bw):
    """The KAD formula written out pair by pair in float64 (independent of the vectorised code)."""
    gamma = 1.0 / (2.0 * bw * bw + 1e-8)

    def k(a, b):
        return math.exp(-gamma * float(np.sum((a - b) ** 2)))

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(a, b) for a in x for b in y) / (m * n)
    return 100.0 * (kxx + kyy - 2 * kxy)


def test_kad_matches_float64_formula_with_reference_median_bandwidth():  # bandwidth rule 'reference'
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 5))
    y = rng.normal(size=(9, 5)) + 0.5
    bw = float(np.median([np.linalg.norm(a - b) for a, b in itertools.combinations(x, 2)]))
    assert kad(x, y, bandwidth="reference") == pytest.approx(kad_reference(x, y, bw), rel=1e-10, abs=1e-12)
    assert kad(x, y, bandwidth=2.5) == pytest.approx(kad_reference(x, y, 2.5), rel=1e-10)
    # float32 input gives the same (computed in float64)
    assert kad(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(kad(x, y), rel=1e-5)


def test_kad_orders_distributions_and_rejects_bad_sets():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(60, 4))
    near = kad(ref, rng.normal(size=(60, 4)))
    far = kad(ref, rng.normal(size=(60, 4)) + 2.0)
    assert abs(near) < 5 and far > 20 * max(abs(near), 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        kad(ref, ref[:1])
    with pytest.raises(ValueError, match="dim"):
        kad(ref, rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="reference embeddings are all identical"):
        kad(np.ones((5, 4)), ref[:5], bandwidth="reference")
    with pytest.raises(ValueError, match="candidate embeddings are all identical"):
        kad(ref[:5], np.ones((5, 4)))
    with pytest.raises(ValueError, match="metrics.kad.bandwidth"):
        kad(ref, ref, bandwidth="median")


def test_kad_bootstrap_resamples_items_with_fixed_reference():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(40, 4))
    cand = rng.normal(size=(30, 4)) + 0.7
    groups = np.repeat(np.arange(10), 3)  # 10 items of 3 windows
    est, low, high = kad_bootstrap_ci(ref, cand, groups=groups, n_boot=500, seed=0)
    assert est == pytest.approx(kad(ref, cand))
    assert low < est < high
    assert kad_bootstrap_ci(ref, cand, groups=groups, n_boot=500, seed=0) == (est, low, high)
    # brute force: resample items; rows of two copies of one item are not paired (nor a row with itself)
    from difftone.metrics.kad import SCALE, KADTerms

    terms = KADTerms(ref, cand)
    members = [np.flatnonzero(groups == g) for g in range(10)]
    picks = np.random.default_rng(0).integers(0, 10, size=(500, 10))

    def resample_kad(pk):
        rows = np.concatenate([members[p] for p in pk])
        item = np.concatenate([[p] * len(members[p]) for p in pk])
        copy = np.concatenate([[c] * len(members[p]) for c, p in enumerate(pk)])
        keep = ~np.eye(len(rows), dtype=bool) & ~((item[:, None] == item[None, :]) & (copy[:, None] != copy[None, :]))
        k_yy = terms.k_yy[np.ix_(rows, rows)][keep].mean()
        return SCALE * (terms.k_xx_mean + k_yy - 2.0 * terms.k_xy_row[rows].mean())

    brute = [resample_kad(pk) for pk in picks]
    assert (low, high) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])), rel=1e-9)


# ---- bootstrap / accuracy --------------------------------------------------------------------


def test_bootstrap_ci_percentiles_and_errors():
    values = np.arange(100, dtype=float)
    est, low, high = bootstrap_ci(values, n_boot=2000, seed=0)
    assert est == pytest.approx(49.5)
    se = values.std() / 10
    assert low == pytest.approx(49.5 - 1.96 * se, abs=1.0) and high == pytest.approx(49.5 + 1.96 * se, abs=1.0)
    assert bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)
    assert bootstrap_ci(values, statistic=np.median, seed=1)[0] == pytest.approx(49.5)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])


def test_bootstrap_ci_of_the_mean_equals_the_per_resample_loop():
    # the mean's resamples are computed in one call; the interval is the loop's, to the last bit
    rng = np.random.default_rng(3)
    for values in (rng.random(7), rng.integers(0, 2, 90).astype(float), rng.normal(size=270)):
        idx = np.random.default_rng(5).integers(0, values.size, size=(1000, values.size))
        stats = np.array([np.mean(values[i]) for i in idx])
        low, high = np.quantile(stats, [0.025, 0.975])
        assert bootstrap_ci(values, n_boot=1000, seed=5) == (float(np.mean(values)), float(low), float(high))


def test_accuracy_ci_from_logits_and_labels():
    logits = np.array([[2.0, 0.1], [0.1, 3.0], [1.0, 0.0], [0.0, 1.0]])
    acc, low, high = accuracy_ci(logits, [0, 1, 1, 1], n_boot=200)
    assert acc == 0.75 and 0 <= low <= acc <= high <= 1
    assert accuracy_ci(["vio", "cel"], ["vio", "vio"])[0] == 0.5
    with pytest.raises(ValueError):
        accuracy_ci([0, 1], [0, 1, 1])


# ---- CLAP ------------------------------------------------------------------------------------


# LAION-CLAP's original names, written independently of the converter (shared with the rehearsal's stand-in)
from difftone.rehearsal import laion_original_state_dict as original_style_state_dict  # noqa: E402
from difftone.rehearsal import write_clap_checkpoint  # noqa: E402


def test_laion_checkpoint_conversion_round_trip(tmp_path):
    source = clapmod.build_tiny_clap(seed=3)
    ckpt = {"epoch": 15, "state_dict": original_style_state_dict(source)}
    assert any(".attn.qkv." in k for k in ckpt["state_dict"])
    pt = tmp_path / "music_tiny.pt"
    torch.save(ckpt, pt)
    model = clapmod.load_laion_checkpoint(pt, config=clapmod.tiny_clap_config())
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    # the converted model embeds exactly as the model the checkpoint came from
    wave = tone(330.0, seconds=3.0, sr=48000)
    got = clapmod.ClapEmbedder(model, window_s=2.0).embed(wave, 48000)
    assert np.allclose(got, clapmod.ClapEmbedder(source, window_s=2.0).embed(wave, 48000), atol=1e-6)


def test_laion_checkpoint_cached_as_safetensors(tmp_path):
    """A plain (protocol 2, tensors only) file opens weights-only without a pin, and is cached by its hash."""
    source = clapmod.build_tiny_clap(seed=4)
    pt = tmp_path / "tiny_music.pt"
    torch.save({"state_dict": original_style_state_dict(source)}, pt)
    model = clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", architecture="tiny")
    cached = tmp_path / "cache" / f"tiny_music-{clapmod.file_sha256(pt)[:16]}"
    assert (cached / "model.safetensors").is_file()
    assert json.loads((cached / "conversion.json").read_text())["sha256_pinned"] is False
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def _laion_like_standin(tmp_path, seed=5):
    """The rehearsal's tiny CLAP stand-in, saved as LAION's files are (protocol 4, numpy scalars)."""
    pt = write_clap_checkpoint(tmp_path / "music_audioset_epoch_15_esc_90.14.pt", "tiny", seed=seed)
    return pt, clapmod.build_tiny_clap(seed=seed)


def test_clap_standin_reproduces_the_weights_only_failures_of_laions_files(tmp_path):
    pt, _ = _laion_like_standin(tmp_path)
    with pytest.raises(Exception, match="Unsupported operand 149"):  # pickle protocol 4's opcode
        torch.load(pt, map_location="cpu", weights_only=True)
    ckpt = torch.load(pt, map_location="cpu", weights_only=False)
    assert sorted(ckpt) == ["epoch", "name", "optimizer", "state_dict"]
    assert all(k.startswith("module.") for k in ckpt["state_dict"])
    assert isinstance(ckpt["optimizer"]["param_groups"][0]["lr"], np.floating)
    torch.save(ckpt, tmp_path / "protocol2.pt")  # the same entries at torch's default protocol: the numpy scalars
    with pytest.raises(Exception, match="numpy"):
        torch.load(tmp_path / "protocol2.pt", map_location="cpu", weights_only=True)
    # the loader, without a pin: never unpickled in full; the error says what to pin; nothing is cached
    with pytest.raises(
        clapmod.ClapCheckpointError, match=r"weights-only \(Unsupported operand 149\).*metrics\.clap\.sha256"
    ):
        clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", architecture="tiny")
    assert not (tmp_path / "cache").exists()


def test_clap_pinned_checkpoint_is_verified_unpickled_once_and_read_as_safetensors_after(tmp_path, monkeypatch):
    pt, source = _laion_like_standin(tmp_path)
    sha = clapmod.file_sha256(pt)
    model = clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", architecture="tiny", sha256=sha.upper())
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    cached = tmp_path / "cache" / f"music_audioset_epoch_15_esc_90.14-{sha[:16]}"
    record = json.loads((cached / "conversion.json").read_text())
    assert record["source_sha256"] == sha and record["sha256_pinned"] is True
    assert sorted(p.name for p in cached.iterdir()) == ["config.json", "conversion.json", "model.safetensors"]

    # later loads read the safetensors: the .pt is gone and any unpickling would fail
    pt.unlink()

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load called: a later load unpickled something")

    monkeypatch.setattr(torch, "load", no_unpickling)
    again = clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", architecture="tiny", sha256=sha)
    for key, value in source.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    wave = tone(330.0, seconds=3.0, sr=48000)
    got = clapmod.ClapEmbedder(again, window_s=2.0).embed(wave, 48000)
    assert np.allclose(got, clapmod.ClapEmbedder(source, window_s=2.0).embed(wave, 48000), atol=1e-6)


def test_clap_wrong_hash_stops_before_unpickling_and_writes_nothing(tmp_path, monkeypatch):
    pt, _ = _laion_like_standin(tmp_path)
    actual = clapmod.file_sha256(pt)
    unpickled = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or real_load(*a, **k))
    with pytest.raises(clapmod.ClapCheckpointError) as err:
        clapmod.load_clap_model(
            str(pt), cache_dir=tmp_path / "cache", architecture="tiny", sha256=clapmod.LAION_MUSIC_SHA256
        )
    msg = str(err.value)
    assert str(pt) in msg and clapmod.LAION_MUSIC_SHA256 in msg and actual in msg
    assert "metrics.clap.sha256" in msg and "fetch" in msg
    assert unpickled == [] and not (tmp_path / "cache").exists()
    with pytest.raises(clapmod.ClapCheckpointError, match="metrics.clap.sha256='abc' is not a sha256"):
        clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", architecture="tiny", sha256="abc")


def test_clap_safetensors_state_dict_loads_under_either_naming(tmp_path):
    from safetensors.torch import save_file

    source = clapmod.build_tiny_clap(seed=6)
    original = {k: v.contiguous() for k, v in original_style_state_dict(source).items()}
    save_file(original, tmp_path / "original.safetensors")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "clap.safetensors")
    for name in ("original.safetensors", "clap.safetensors"):
        model = clapmod.load_clap_model(str(tmp_path / name), architecture="tiny")
        for key, value in source.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), (name, key)
    with pytest.raises(clapmod.ClapCheckpointError, match="does not exist"):
        clapmod.load_clap_model(str(tmp_path / "absent.safetensors"), architecture="tiny")


def test_real_size_clap_standin_has_the_original_files_505_tensors_and_maps_completely():
    """HTSAT-base + RoBERTa-base under LAION's names (on the meta device: shapes without memory)."""
    from transformers import ClapModel

    with torch.device("meta"):
        model = ClapModel(clapmod.laion_music_config())
    original = original_style_state_dict(model)
    assert len(original) == 505 and all(k.startswith("module.") for k in original)
    shapes = {k.removeprefix("module."): tuple(v.shape) for k, v in original.items()}
    assert sum(math.prod(s) for s in shapes.values()) == 200_064_988  # ~200 M values, as reported
    masks = {k: s for k, s in shapes.items() if k.endswith("attn_mask")}
    assert len(masks) == 8 and masks["audio_branch.layers.0.blocks.1.attn_mask"] == (64, 64, 64)
    assert masks["audio_branch.layers.2.blocks.11.attn_mask"] == (4, 64, 64)
    assert shapes["audio_branch.layers.0.blocks.0.attn.qkv.weight"] == (384, 128)
    assert shapes["audio_branch.patch_embed.proj.weight"] == (128, 1, 4, 4)
    assert shapes["audio_branch.tscam_conv.weight"] == (527, 1024, 2, 3)
    assert shapes["text_branch.embeddings.word_embeddings.weight"] == (50265, 768)
    assert shapes["text_branch.embeddings.position_ids"] == (1, 514)
    assert shapes["audio_projection.0.weight"] == (512, 1024) and shapes["text_projection.0.weight"] == (512, 768)
    assert shapes["logit_scale_a"] == () and shapes["text_transform.sequential.3.weight"] == (512, 512)
    # the converter maps every ClapModel weight, and only original-only tensors are left over
    converted = clapmod.convert_laion_state_dict(original)
    expected = model.state_dict()
    assert {k for k in expected if not clapmod.REBUILT_BUFFERS.search(k)} <= set(converted)
    leftover = set(converted) - set(expected)
    assert leftover and all(clapmod.IGNORED_ORIGINAL_KEYS.search(k) for k in leftover)
    assert all(tuple(converted[k].shape) == tuple(v.shape) for k, v in expected.items() if k in converted)


@pytest.mark.fullsize
def test_real_size_clap_standin_loads_through_the_verified_path(tmp_path):
    """The real-size stand-in file (0.8 GB, protocol 4, numpy scalars) through load_clap_model (~1 min, 2 GB)."""
    pt = write_clap_checkpoint(tmp_path / "music_audioset_epoch_15_esc_90.14.pt", "real")
    sha = clapmod.file_sha256(pt)
    model = clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", sha256=sha)  # laion_music
    original = torch.load(pt, map_location="cpu", weights_only=False, mmap=True)["state_dict"]
    assert len(original) == 505
    qkv = original["module.audio_branch.layers.2.blocks.5.attn.qkv.weight"]
    state = model.state_dict()
    assert torch.equal(
        state["audio_model.audio_encoder.layers.2.blocks.5.attention.self.value.weight"], qkv.chunk(3)[2]
    )
    assert torch.equal(
        state["text_model.encoder.layer.11.output.dense.weight"],
        original["module.text_branch.encoder.layer.11.output.dense.weight"],
    )
    del model, state, original
    pt.unlink()
    again = clapmod.load_clap_model(str(pt), cache_dir=tmp_path / "cache", sha256=sha)
    assert again.config.audio_config.depths == [2, 2, 12, 2]


def test_laion_checkpoint_errors_name_missing_and_unexpected_keys(tmp_path):
    sd = original_style_state_dict(clapmod.build_tiny_clap())
    sd.pop("module.audio_branch.norm.weight")
    sd["module.audio_branch.fusion_model.conv.weight"] = torch.zeros(1)
    pt = tmp_path / "broken.pt"
    torch.save({"state_dict": sd}, pt)
    with pytest.raises(clapmod.ClapCheckpointError) as err:
        clapmod.load_laion_checkpoint(pt, config=clapmod.tiny_clap_config())
    msg = str(err.value)
    assert "broken.pt" in msg and "audio_model.audio_encoder.norm.weight" in msg and "fusion_model" in msg
    with pytest.raises(clapmod.ClapCheckpointError, match="does not exist"):
        clapmod.load_clap_model(str(tmp_path / "absent" / "x.pt"))
    with pytest.raises(clapmod.ClapCheckpointError, match="larger_clap_music"):
        clapmod.load_clap_model("laion/larger_clap_music")


def test_laion_music_config_is_htsat_base():
    cfg = clapmod.laion_music_config()
    assert cfg.audio_config.patch_embeds_hidden_size == 128 and list(cfg.audio_config.depths) == [2, 2, 12, 2]
    assert cfg.audio_config.hidden_size == 128 * 8 and cfg.projection_dim == 512
    assert not cfg.audio_config.enable_fusion and cfg.text_config.hidden_size == 768


def test_clap_windows_follow_kadtk():
    embedder = load_clap("tiny", window_s=10.0, hop_s=1.0)
    clip = tone(440.0, seconds=3.0, sr=44100)  # an IRMAS-like 3 s clip at 44.1 kHz
    win = embedder.windows(clip, 44100)
    assert win.shape == (3, 480000)
    assert np.all(win[0, 3 * 48000 + 10 :] == 0) and np.all(win[2, 48000 + 10 :] == 0)  # tails zero-padded
    assert np.all(np.abs(win * 32767 - np.round(win * 32767)) < 1e-2)  # int16 grid
    emb = embedder.embed(clip, 44100)
    assert emb.shape == (3, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_clap_log_mel_is_the_feature_extractors_input(tmp_path):
    fe = clapmod.clap_feature_extractor(1.0)
    rng = np.random.default_rng(0)
    t = np.arange(fe.nb_max_samples) / clapmod.SAMPLE_RATE
    windows = np.stack(
        [
            clapmod.int16_round_trip((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)),
            clapmod.int16_round_trip((0.1 * rng.standard_normal(t.size)).astype(np.float32)),
            np.zeros(t.size, dtype=np.float32),  # silence: every band at the -100 dB floor
        ]
    )
    ours = clapmod.clap_log_mel(windows, fe)
    theirs = fe(list(windows), sampling_rate=clapmod.SAMPLE_RATE, max_length=fe.nb_max_samples, return_tensors="pt")[
        "input_features"
    ]
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert float((ours - theirs).abs().max()) < 1e-3  # dB
    with pytest.raises(ValueError, match="non-fusion windows of 48000 samples"):
        clapmod.clap_log_mel(windows[:, :-1], fe)


def test_collapse_guard_trips_only_for_near_identical_sets():
    embedder = load_clap("tiny")
    sr = 48000
    rng = np.random.default_rng(0)
    clips = [tone(f, seconds=3.0, sr=sr) for f in (220.0, 330.0, 523.0, 880.0)]
    clips.append((0.2 * rng.normal(size=3 * sr)).astype(np.float32))
    emb = np.concatenate([embedder.embed(c, sr) for c in clips])
    assert check_not_collapsed(emb, "reference") < 0.999  # the stand-in tells different clips apart
    assert kad(emb, emb[::-1].copy()) == pytest.approx(kad(emb, emb), abs=1e-9)
    collapsed = np.ones((20, 16)) + 1e-4 * rng.normal(size=(20, 16))
    with pytest.raises(EmbeddingCollapseError, match="near-identical"):
        check_not_collapsed(collapsed, "reference vio")


def _median_distance64(z):
    z = np.asarray(z, np.float64)
    return float(np.median([np.linalg.norm(z[i] - z[j]) for i in range(len(z)) for j in range(i + 1, len(z))]))


@pytest.mark.parametrize("rule", ["candidate", "reference", 1.7])
def test_kad_bandwidth_rules_match_an_independent_float64_computation(rule):
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(25, 6)).astype(np.float32)
    cand = (rng.normal(size=(18, 6)) * 1.8 + 0.4).astype(np.float32)  # a wider spread: the two medians differ
    bw = {"candidate": _median_distance64(cand), "reference": _median_distance64(ref)}.get(rule, rule)
    assert abs(_median_distance64(cand) - _median_distance64(ref)) > 0.5
    assert kad(ref, cand, bandwidth=rule) == pytest.approx(kad_reference(ref, cand, bw), rel=1e-6)
    from difftone.metrics.kad import KADTerms

    assert KADTerms(ref, cand, rule).bandwidth == pytest.approx(bw, rel=1e-12)


def test_cluster_bootstrap_gives_the_source_level_width_not_the_edit_level_one():
    """9 identical edits per source: resampling sources is resampling 30 values; resampling edits would
    pretend there are 270 independent ones (an interval about 3 = sqrt(9) times narrower)."""
    rng = np.random.default_rng(4)
    per_source = rng.normal(size=30)
    values = np.repeat(per_source, 9)
    sources = np.repeat([f"src{i}" for i in range(30)], 9)
    est, low, high = cluster_bootstrap_ci(values, sources, n_boot=4000, seed=0)
    s_est, s_low, s_high = bootstrap_ci(per_source, n_boot=4000, seed=0)
    e_est, e_low, e_high = bootstrap_ci(values, n_boot=4000, seed=0)
    assert est == pytest.approx(s_est)
    assert high - low == pytest.approx(s_high - s_low, rel=0.05)
    assert (high - low) > 2.5 * (e_high - e_low)
    # one item per cluster is the ordinary bootstrap, draw for draw
    assert cluster_bootstrap_ci(per_source, np.arange(30), n_boot=500, seed=3) == pytest.approx(
        bootstrap_ci(per_source, n_boot=500, seed=3)
    )
    with pytest.raises(ValueError, match="cluster labels"):
        cluster_bootstrap_ci(values, sources[:-1])


def test_paired_difference_is_the_cluster_interval_of_the_per_item_difference():
    rng = np.random.default_rng(5)
    sources = np.repeat(np.arange(20), 9)
    shared = np.repeat(rng.normal(size=20), 9)  # a source's difficulty, common to both methods
    a = shared + 0.3 + 0.05 * rng.normal(size=180)
    b = shared + 0.05 * rng.normal(size=180)
    est, low, high = paired_difference_ci(a, b, sources, n_boot=2000, seed=0)
    assert est == pytest.approx(np.mean(a - b))
    assert 0 < low < 0.3 < high  # the shared difficulty cancels: a is better, the interval excludes 0
    _, ua_low, ua_high = cluster_bootstrap_ci(a, sources, n_boot=2000, seed=0)
    _, ub_low, ub_high = cluster_bootstrap_ci(b, sources, n_boot=2000, seed=0)
    assert ua_low < ub_high  # while the unpaired intervals overlap
    with pytest.raises(ValueError, match="as many items"):
        paired_difference_ci(a, b[:-1], sources)


def test_mean_kad_over_pairs_resamples_shared_sources():
    from difftone.metrics import mean_kad_cluster_ci
    from difftone.metrics.bootstrap import cluster_counts
    from difftone.metrics.kad import KADTerms

    rng = np.random.default_rng(6)
    sets = []
    for shift in (0.5, 1.0):
        ref = rng.normal(size=(20, 4))
        cand = rng.normal(size=(12, 4)) + shift
        sets.append((ref, cand, np.array([f"s{i:02d}" for i in range(12)])))  # the same 12 sources in both pairs
    est, low, high = mean_kad_cluster_ci(sets, n_boot=300, seed=1)
    assert est == pytest.approx(np.mean([kad(r, c) for r, c, _ in sets]))
    assert low < est < high
    counts = cluster_counts(12, 300, 1)
    members = [[np.repeat(np.arange(12), counts[b].astype(int))] for b in range(300)]
    brute = [np.mean([KADTerms(r, c).value(m[0]) for r, c, _ in sets]) for m in members]
    assert (low, high) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])), rel=1e-9)


def test_embeddings_round_trip_under_the_exact_name(tmp_path):
    from difftone.metrics import load_embeddings, save_embeddings

    path = tmp_path / "sub" / "ref.npz"
    emb = np.arange(6, dtype=np.float64).reshape(2, 3)
    save_embeddings(path, emb, np.array(["pia", "vio"]), {"clap": {"checkpoint": "x"}})
    assert sorted(p.name for p in path.parent.iterdir()) == ["ref.npz"]  # no temporary file left beside it
    got, items, meta = load_embeddings(path)
    assert got.dtype == np.float32 and np.array_equal(got, emb) and list(items) == ["pia", "vio"]
    assert meta == {"clap": {"checkpoint": "x"}}
