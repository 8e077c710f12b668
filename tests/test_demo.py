"""The demo model family: mel autoencoder, components, training, checkpoints."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pretty_midi
import pytest
import soundfile as sf
import torch
from diffusers import StableAudioPipeline

from difftone.demo_training import (
    DemoTrainingError,
    DemoTrainingSettings,
    caption,
    train_demo_model,
)
from difftone.instruments import INSTRUMENTS
from difftone.models import load_sao
from difftone.models.demo import (
    MelAutoencoder,
    build_demo_components,
    latent_frames,
    save_demo_components,
)
from difftone.models.loader import ModelLoadError

SR = 44100
torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings(
    "ignore:Should have t:UserWarning"
)  # the Brownian tree bounds (engine fixes them)


def render_note(code: str, pitch: int, seconds: float) -> np.ndarray:
    """A GM-soundfont note as stereo [2, samples] at 44.1 kHz (as the embedded dataset)."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=INSTRUMENTS[code].gm_program)
    inst.notes.append(pretty_midi.Note(100, pitch, 0.05, seconds * 0.8))
    pm.instruments.append(inst)
    n = int(seconds * SR)
    y = pm.fluidsynth(fs=SR)[:n]
    y = np.pad(y, (0, n - len(y)))
    y = 0.8 * y / np.abs(y).max()
    return np.stack([y, y]).astype(np.float32)


@pytest.fixture(scope="module")
def notes() -> torch.Tensor:
    return torch.from_numpy(np.stack([render_note("pia", 60, 3.0), render_note("vio", 67, 3.0)]))


def test_mel_autoencoder_has_the_vae_interface(notes):
    vae = MelAutoencoder()
    assert (vae.sampling_rate, vae.hop_length, vae.config.audio_channels) == (44100, 2048, 2)
    posterior = vae.encode(notes).latent_dist
    z = posterior.mode()
    assert z.shape == (2, 64, 65) == (2, 64, latent_frames(3.0))
    assert torch.equal(posterior.sample(torch.Generator().manual_seed(0)), z)
    # mono input is downmixed stereo: same latents
    assert torch.allclose(vae.encode(notes[:, :1]).latent_dist.mode(), z, atol=1e-5)
    wave = vae.decode(z).sample
    assert wave.shape == (2, 2, 65 * 2048) and wave.dtype == z.dtype
    assert torch.isfinite(wave).all() and wave.abs().max() > 0.01
    with pytest.raises(ValueError, match="batch, channels, samples"):
        vae.encode(notes[0])
    with pytest.raises(ValueError, match="batch, 64, frames"):
        vae.decode(z[:, :32])


def test_round_trip_keeps_the_mel_spectrogram(notes):
    vae = MelAutoencoder()
    z = vae.encode(notes).latent_dist.mode()
    again = vae.encode(vae.decode(z).sample[..., : notes.shape[-1]]).latent_dist.mode()
    sounding = z > np.log(1e-5) + 3  # bins above the silence floor
    err = (again - z).abs()[sounding].mean().item()
    assert err < 1.0, f"log-mel round-trip error {err:.2f} nepers"  # Griffin-Lim: 0.6-0.8 measured
    corr = np.corrcoef(z.flatten(), again.flatten())[0, 1]
    assert corr > 0.9  # 0.93 measured
    # the two notes stay apart: the piano's decoded mel is nearer the piano than the violin
    assert (again[0] - z[0]).abs().mean() < (again[0] - z[1]).abs().mean()


def test_latent_statistics_standardize():
    wave = torch.from_numpy(render_note("flu", 72, 1.0))[None]
    raw = MelAutoencoder().log_mel(wave)
    vae = MelAutoencoder(latent_mean=-4.0, latent_std=5.0)
    assert torch.allclose(vae.encode(wave).latent_dist.mode(), (raw + 4.0) / 5.0, atol=1e-6)
    with pytest.raises(ValueError, match="latent_std"):
        MelAutoencoder(latent_std=0.0)


def test_cepstral_latents_are_the_scaled_mel_axis_dct_and_decode_as_the_log_mel_ones(notes):
    """demo.timbre_coefficients: latents = orthonormal DCT-II along the mel axis of the standardized log-mel, the
    first K coefficients times one gain (RMS std timbre_std over the fitted clips), the rest times another (note_std);
    the inverse is exact, so the decoded audio is that of the log-mel latents."""
    import scipy.fft

    from difftone.demo_training import fitted_autoencoder

    log_mel = MelAutoencoder().log_mel(notes)
    plain, cepstral = fitted_autoencoder(log_mel), fitted_autoencoder(log_mel, 10, 0.5, 2.5)
    standardized = (log_mel - plain.config.latent_mean) / plain.config.latent_std
    reference = scipy.fft.dct(standardized.numpy(), type=2, norm="ortho", axis=1)
    z = cepstral.encode(notes).latent_dist.mode()
    scale = np.asarray(cepstral.config.quefrency_scale)[None, :, None]
    np.testing.assert_allclose(z.numpy(), reference * scale, atol=1e-4 * np.abs(reference * scale).max())
    var = reference.var(axis=(0, 2))
    np.testing.assert_allclose(cepstral.config.quefrency_scale[0], 0.5 / np.sqrt(var[:10].mean()), rtol=1e-4)
    np.testing.assert_allclose(cepstral.config.quefrency_scale[10], 2.5 / np.sqrt(var[10:].mean()), rtol=1e-4)
    assert np.sqrt((z[:, :10].numpy().var(axis=(0, 2))).mean()) == pytest.approx(0.5, rel=1e-3)
    assert np.sqrt((z[:, 10:].numpy().var(axis=(0, 2))).mean()) == pytest.approx(2.5, rel=1e-3)
    np.testing.assert_allclose(cepstral.standardized_log_mel(z), standardized.numpy(), atol=1e-4)
    a, b = plain.decode(plain.encode(notes).latent_dist.mode()).sample, cepstral.decode(z).sample
    assert float((a - b).abs().max()) < 1e-3 * float(a.abs().max())
    with pytest.raises(ValueError, match="quefrency_scale must be 64 positive gains"):
        MelAutoencoder(quefrency_scale=[1.0] * 10)


def _generate(components, prompts, steps=4, seconds=1.0, seed=0):
    pipe = StableAudioPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        prompts,
        num_inference_steps=steps,
        audio_end_in_s=seconds,
        guidance_scale=4.0,
        generator=torch.Generator().manual_seed(seed),
    ).audios


def test_components_generate_through_the_pipeline_and_loader():
    components = build_demo_components(None, sample_size=22)
    assert set(components) == {"transformer", "vae", "text_encoder", "tokenizer", "projection_model", "scheduler"}
    assert components["scheduler"].config.sigma_max == 500 and components["scheduler"].config.sigma_min == 0.3
    audio = _generate(components, ["a soft piano melody", "a violin note"])
    assert audio.shape == (2, 2, SR) and torch.isfinite(audio).all()
    assert not torch.allclose(audio[0], audio[1])  # the prompt reaches the DiT
    loaded = load_sao("demo")  # the one loader dispatches the spec to this family
    assert isinstance(loaded.vae, MelAutoencoder) and loaded.frames_for(3.0) == 65


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    components = build_demo_components(None, sample_size=22, seed=3)
    out = save_demo_components(components, tmp_path / "model")
    assert {p.name for p in out.iterdir()} >= {"transformer", "vae", "tokenizer", "model_index.json"}
    assert not list(out.rglob("*.bin")) and list((out / "transformer").glob("*.safetensors"))
    loaded = build_demo_components(out)
    assert torch.equal(_generate(components, ["a cello note"]), _generate(loaded, ["a cello note"]))
    via_loader = load_sao(f"demo:{out}")
    assert torch.equal(via_loader.transformer.proj_in.weight, components["transformer"].proj_in.weight)


def test_missing_incomplete_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist.*train_demo_model"):
        build_demo_components(tmp_path / "nowhere")
    (tmp_path / "half" / "transformer").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="missing: vae"):
        build_demo_components(tmp_path / "half")
    out = save_demo_components(build_demo_components(None, sample_size=8), tmp_path / "model")
    weights = out / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a truncated download / killed copy
    with pytest.raises(FileNotFoundError, match="cannot be loaded.*retrain"):
        build_demo_components(out)


def test_captions_name_the_instrument_once_in_known_words():
    tokenizer = build_demo_components(None)["tokenizer"]
    rng = np.random.default_rng(0)
    for code in ("pia", "gac", "sax", "vio"):
        word = INSTRUMENTS[code].name
        for _ in range(20):
            text = caption(code, rng)
            assert len(re.findall(rf"\b{word}\b", text.lower())) == 1, text
            assert tokenizer.unk_token_id not in tokenizer(text).input_ids, text


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory) -> str:
    """Two instruments, four 1-second training clips each, and one validation clip."""
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for code in ("pia", "flu"):
        for k, pitch in enumerate((60, 64, 67, 72, 62)):
            path = root / f"{code}{k}.wav"
            sf.write(path, render_note(code, pitch, 1.0).T, SR)
            rows.append(
                {
                    "path": str(path),
                    "instrument": code,
                    "genre": "cla",
                    "drums": "nod",
                    "duration": 1.0,
                    "sample_rate": SR,
                    "channels": 2,
                    "recording": f"{code}{k}",
                    "split": "train" if k < 4 else "val",
                }
            )
    index = root / "index.csv"
    pd.DataFrame(rows).to_csv(index, index=False)
    return str(index)


def test_tiny_training_reduces_loss_and_writes_a_loadable_checkpoint(tmp_path, tiny_index):
    settings = DemoTrainingSettings(
        budget_seconds=None,
        max_steps=40,
        batch_size=8,
        lr=2e-3,
        warmup_steps=5,
        ema_decay=0.9,
        clip_seconds=1.0,
        log_every=10,
        eval_per_instrument=1,
        eval_steps=3,
    )
    out = tmp_path / "model"
    summary = train_demo_model(tiny_index, out, tmp_path / "loss.csv", tmp_path / "loss.png", ["pia", "flu"], settings)
    losses = pd.read_csv(tmp_path / "loss.csv")
    assert len(losses) == 40 == summary["steps"]
    assert losses["loss"].tail(10).mean() < 0.7 * losses["loss"].head(10).mean()
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert summary["clips"] == 8 and summary["latent_frames"] == latent_frames(1.0) == 22
    assert 0.0 <= summary["prompt_adherence"]["generated_nearest_prompted"] <= 1.0
    assert json.loads((out / "training.json").read_text())["steps"] == 40
    # the latent statistics are the training clips' and live in the VAE's JSON config
    vae_config = json.loads((out / "vae" / "config.json").read_text())
    assert vae_config["latent_std"] > 1.0 and vae_config["latent_mean"] < 0.0
    components = load_sao(f"demo:{out}")
    assert components.window_frames == 22 and components.vae.config.latent_mean == vae_config["latent_mean"]
    assert _generate(components.as_pipeline_kwargs(), ["a flute note"], steps=3).shape == (1, 2, SR)
    assert not list(tmp_path.glob(".model.*")), "temporary folder left behind"


def test_training_never_depends_on_the_clock(tmp_path, tiny_index, caplog):
    settings = dict(budget_seconds=None, max_steps=3, batch_size=4, clip_seconds=1.0, eval_per_instrument=0)
    # run b's budget passes before the first step: it warns, and still trains the same 3 steps
    for run, budget in (("a", None), ("b", 1e-9)):
        train_demo_model(
            tiny_index,
            tmp_path / run,
            tmp_path / f"{run}.csv",
            tmp_path / f"{run}.png",
            ["pia", "flu"],
            dict(settings, budget_seconds=budget),
        )
    a, b = (build_demo_components(tmp_path / run)["transformer"] for run in ("a", "b"))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert pd.read_csv(tmp_path / "a.csv")["loss"].equals(pd.read_csv(tmp_path / "b.csv")["loss"])
    assert pd.read_csv(tmp_path / "a.csv")["lr"].equals(pd.read_csv(tmp_path / "b.csv")["lr"])
    assert "demo.budget_seconds" in caplog.text and "continues to max_steps" in caplog.text
    assert json.loads((tmp_path / "b" / "training.json").read_text())["over_budget"] is True
    assert json.loads((tmp_path / "a" / "training.json").read_text())["over_budget"] is False


def test_decoder_never_goes_louder_than_the_training_range():
    vae = MelAutoencoder(latent_mean=-5.0, latent_std=4.0, latent_max=2.0)
    z = torch.full((1, 64, 22), 2.0)
    at_max = vae.decode(z).sample
    overshoot = vae.decode(z + 5.0).sample  # guidance overshoot: 20 log-units above anything trained on
    assert torch.equal(at_max, overshoot)
    assert torch.isfinite(at_max).all()


def test_training_rejects_an_instrument_without_clips(tmp_path, tiny_index):
    with pytest.raises(DemoTrainingError, match="no training clips for instrument.*vio"):
        train_demo_model(
            tiny_index,
            tmp_path / "m",
            tmp_path / "l.csv",
            tmp_path / "l.png",
            ["pia", "vio"],
            {"max_steps": 2, "clip_seconds": 1.0},
        )
    assert not (tmp_path / "m").exists()


def test_batched_griffin_lim_is_librosas_algorithm():
    """The decoder's torch Griffin-Lim against librosa.griffinlim from the same (all-ones) initial phases."""
    import librosa

    from difftone.models.demo import griffin_lim_from

    rng = np.random.default_rng(0)
    magnitude = rng.random((2, 1025, 20)).astype(np.float32) ** 4  # peaky spectra, far from consistent
    length = 19 * 1024
    ours = griffin_lim_from(
        torch.from_numpy(magnitude),
        torch.ones(magnitude.shape, dtype=torch.complex64),
        n_iter=8,
        n_fft=2048,
        hop_length=1024,
        length=length,
    ).numpy()
    for item, mag in zip(ours, magnitude):
        reference = librosa.griffinlim(
            mag, n_iter=8, hop_length=1024, n_fft=2048, window="hann", center=True, length=length, init=None
        )
        assert np.abs(item - reference).max() <= 1e-4 * np.abs(reference).max()


def test_an_item_decodes_the_same_alone_and_in_a_batch():
    vae = MelAutoencoder()
    z = torch.randn(3, 64, 20)
    alone = vae.decode(z[1:2]).sample
    assert torch.equal(vae.decode(z).sample[1:2], alone)


@pytest.mark.parametrize("frames,length", [(20, 19 * 1024), (20, 19 * 1024 - 300), (65, 64 * 1024), (3, 2048)])
def test_half_overlap_istft_is_torch_istft(frames, length):
    from difftone.models.demo import istft_half_overlap

    gen = torch.Generator().manual_seed(frames)
    spec = torch.complex(torch.randn(2, 1025, frames, generator=gen), torch.randn(2, 1025, frames, generator=gen))
    window = torch.hann_window(2048, periodic=True)
    reference = torch.istft(spec, n_fft=2048, hop_length=1024, window=window, center=True, length=length)
    ours = istft_half_overlap(spec, window, length)
    assert ours.shape == reference.shape
    assert torch.allclose(ours, reference, atol=1e-6 * float(reference.abs().max()), rtol=0)


def test_the_fitted_autoencoder_is_the_trained_checkpoints_and_gives_its_latents(tmp_path, tiny_index):
    """fit_demo_autoencoder (rule fit_demo_autoencoder) is what training puts in the checkpoint: the latents cache
    loaded from it alone (spec demo-autoencoder:DIR, no trained DiT) equals the trained model's encoder."""
    from difftone.demo_training import fit_demo_autoencoder

    settings = dict(budget_seconds=None, max_steps=2, batch_size=4, clip_seconds=1.0, eval_per_instrument=0)
    fitted = fit_demo_autoencoder(tiny_index, tmp_path / "ae", ["pia", "flu"], settings)
    train_demo_model(
        tiny_index,
        tmp_path / "m",
        tmp_path / "l.csv",
        tmp_path / "l.png",
        ["pia", "flu"],
        settings,
        autoencoder_dir=tmp_path / "ae",
    )
    trained = load_sao(f"demo:{tmp_path / 'm'}")
    alone = load_sao(f"demo-autoencoder:{tmp_path / 'ae'}")
    for key in ("latent_mean", "latent_std", "latent_max"):
        assert trained.vae.config[key] == alone.vae.config[key] == fitted.config[key]
    wave = torch.from_numpy(render_note("pia", 60, 1.0)[None].astype(np.float32))
    assert torch.equal(trained.encode_audio(wave), alone.encode_audio(wave))
    # an autoencoder fitted on other clips is refused, naming the rule to rerun
    fit_demo_autoencoder(tiny_index, tmp_path / "other", ["pia", "flu"], dict(settings, clips_per_instrument=2))
    with pytest.raises(DemoTrainingError, match="fit_demo_autoencoder"):
        train_demo_model(
            tiny_index,
            tmp_path / "m2",
            tmp_path / "l2.csv",
            tmp_path / "l2.png",
            ["pia", "flu"],
            settings,
            autoencoder_dir=tmp_path / "other",
        )
    with pytest.raises(ModelLoadError, match="fit_demo_autoencoder"):
        load_sao(f"demo-autoencoder:{tmp_path / 'missing'}")
