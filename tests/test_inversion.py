"""Edit-friendly inversion of recordings (difftone.engine.inversion, difftone.real_audio, difftone edit --audio).

Tolerances: resuming an inverted trajectory with the source prompt runs the very operations
the inversion ran (same x_k, same history, the stored z_k injected, the residual added), so
the latents are equal up to float32 rounding: observed 0 to 2e-5 of max|w0| (resumes at k > 0
exact); EXACT allows 1e-4 of max|w0|. The round trip is that of the VAE only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from difftone.audio import AudioError
from difftone.classifiers import tiny_latent_classifier
from difftone.cli import main
from difftone.engine import SPECS, EditOptions, Editor, Trajectory, edit
from difftone.engine.inversion import invert_audio, window_wave
from difftone.models import load_backbone
from difftone.real_audio import load_recording, restore

torch.set_num_threads(1)

N, SOURCE_GUIDANCE = 6, 3.0
PROMPT = "A recording of piano"
REL_TOL = 1e-4


def tone(seconds: float, sr: int, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = amp * (np.sin(2 * np.pi * 262 * t) + 0.5 * np.sin(2 * np.pi * 523 * t)) * np.exp(-t)
    return np.stack([x] * channels).astype(np.float32)


@pytest.fixture(scope="module", params=["tiny", "demo"])
def backbone(request):
    return load_backbone(request.param)


@pytest.fixture(scope="module")
def editor(backbone):
    return Editor(backbone, tiny_latent_classifier(backbone.latent_channels, ["pia", "vio", "gac"]), progress=False)


@pytest.fixture(scope="module")
def inverted(editor, backbone, tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "piano.wav"
    sf.write(path, tone(1.5, 22050).T, 22050)
    rec = load_recording(path, backbone)
    wave = torch.from_numpy(rec.wave).unsqueeze(0)
    traj = invert_audio(
        editor, wave, [PROMPT], [0], N, SOURCE_GUIDANCE, target_guidance_scale=4.0, recordings=[rec.info()]
    )[0]
    w0 = backbone.encode_audio(window_wave(wave, backbone))[0].float()  # computed here, not by the inversion
    vae_round_trip = backbone.decode(w0.unsqueeze(0))[0, :, : traj.audio.shape[-1]].float()
    return rec, traj, w0, vae_round_trip


def test_the_step_is_affine_in_the_noise_with_the_schedules_noise_scale(editor, backbone):
    x = torch.randn(1, backbone.latent_channels, backbone.window_frames) * 10
    cond, n = editor.encode([PROMPT], 1.0), torch.randn_like(x)
    outs = []
    for noise in (torch.zeros_like(x), n):
        sched = editor.new_schedule(N)
        sched.start(x, [0])
        outs.append(backbone.step(sched, editor.predict(x, 0, sched, cond, 3.0), 0, x, noise=noise))
    s = sched.noise_scale(0)
    assert s > 0 and sched.noise_scale(N - 1) == 0.0
    assert torch.allclose(outs[1] - outs[0], s * n, atol=1e-4 * float(x.abs().max()))


@pytest.mark.parametrize("k", [0, N // 2, N - 1])
def test_resuming_with_the_source_prompt_reproduces_the_encoded_recording(editor, backbone, inverted, k):
    rec, traj, w0, vae_round_trip = inverted
    assert traj.origin == "inverted" and traj.noise.shape == (N, backbone.latent_channels, backbone.window_frames)
    assert torch.allclose(traj.latents[-1], w0, atol=REL_TOL * float(w0.abs().max()))
    out = editor.resume(traj, [(k, [PROMPT])], guidance_scale=SOURCE_GUIDANCE, return_latents=True)[0]
    assert float((out - w0).abs().max()) <= REL_TOL * float(w0.abs().max())
    assert torch.allclose(traj.audio, vae_round_trip, atol=1e-3 * float(vae_round_trip.abs().max()))
    if k == 0:  # the whole resumed run, decoded: the VAE round trip of the recording
        audio = editor.resume(traj, [(k, [PROMPT])], guidance_scale=SOURCE_GUIDANCE)[0]
        assert torch.allclose(audio, vae_round_trip, atol=1e-3 * float(vae_round_trip.abs().max()))


def test_without_the_residual_or_the_noise_maps_it_is_not_exact(editor, inverted):
    """The residual and the stored noise are what make the round trip exact (ZETA's is close only)."""
    _, traj, w0, _ = inverted
    import dataclasses

    no_residual = dataclasses.replace(traj, residual=None)
    out = editor.resume(no_residual, [(0, [PROMPT])], guidance_scale=SOURCE_GUIDANCE, return_latents=True)[0]
    assert float((out - w0).abs().max()) > 10 * REL_TOL * float(w0.abs().max())


def test_inverted_trajectories_save_and_load_and_version_1_still_loads(inverted, tmp_path):
    traj = inverted[1]
    loaded = Trajectory.load(traj.save(tmp_path / "t"))
    assert loaded.origin == "inverted" and loaded.recording["sample_rate"] == 22050
    assert torch.equal(loaded.noise, traj.noise) and torch.equal(loaded.residual, traj.residual)
    assert loaded.edit_guidance_scale == 4.0 and loaded.guidance_scale == SOURCE_GUIDANCE
    meta_path = tmp_path / "t" / "trajectory.json"
    meta = json.loads(meta_path.read_text())
    for key in ("origin", "target_guidance_scale", "recording"):
        meta.pop(key)
    meta["version"] = 1
    meta_path.write_text(json.dumps(meta))
    assert Trajectory.load(tmp_path / "t").origin == "generated"
    meta["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trajectory format version 99, this difftone reads version 1, 2 or 3"):
        Trajectory.load(tmp_path / "t")


@pytest.mark.parametrize(
    "strategy", ["difftone", "midpoint", "random", "fixed:2", "sigma:1.0", "probe", "agree", "none"]
)
def test_every_registered_strategy_edits_an_inverted_trajectory_through_the_edit_step(editor, inverted, strategy):
    assert strategy.split(":")[0] in SPECS
    traj = inverted[1]
    assert traj.trace is not None and traj.trace.steps == N
    records = edit(
        editor, traj, "pia", ["vio", "gac"], strategy, EditOptions(probe_classifier=editor.classifier_hook.classifier)
    )
    for r in records:
        assert r.audio is not None and r.audio.shape == traj.audio.shape and torch.isfinite(r.audio).all()
        assert r.target_prompt == PROMPT.replace("piano", {"vio": "violin", "gac": "acoustic guitar"}[r.target])
        if r.swap_step < N:
            assert not torch.allclose(r.audio, traj.audio)  # the swap changed something
        else:
            assert torch.equal(r.audio, traj.audio)


# -- the CLI -------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["tiny", "demo"])
@pytest.mark.parametrize("sr,channels", [(22050, 1), (48000, 2)])
def test_cli_edit_audio_none_is_the_vae_round_trip_at_the_inputs_format(tmp_path, capsys, model, sr, channels):
    path = tmp_path / "in.wav"
    sf.write(path, tone(1.0, sr, channels).T, sr)
    assert (
        main(
            [
                "-q",
                "edit",
                "--audio",
                str(path),
                "--source",
                "piano",
                "--target",
                "violin",
                "--model",
                model,
                "--steps",
                "4",
                "--strategy",
                "none",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    edit, esr = sf.read(tmp_path / "out" / "edit.wav", always_2d=True)
    recon, _ = sf.read(tmp_path / "out" / "reconstruction.wav", always_2d=True)
    assert esr == sr and edit.shape == (int(sr), channels)
    # the VAE round trip of the input, computed here without the engine
    backbone = load_backbone(model)
    rec = load_recording(path, backbone)
    w0 = backbone.encode_audio(window_wave(torch.from_numpy(rec.wave).unsqueeze(0), backbone))
    expected = restore(backbone.decode(w0)[0, :, : rec.wave.shape[1]], rec, backbone.sample_rate).T
    assert np.abs(edit - expected).max() <= 1e-3 * np.abs(expected).max()
    assert np.abs(recon - expected).max() <= 1e-3 * np.abs(expected).max()
    record = json.loads((tmp_path / "out" / "edit.json").read_text())
    assert record["prompt"] == "A recording of piano" and record["target_prompt"] == "A recording of violin"
    assert record["audio"]["sample_rate"] == sr and record["files"] == {
        "reconstruction": "reconstruction.wav",
        "edit": "edit.wav",
    }


def test_cli_edit_audio_with_a_prompt_and_a_swap(tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, tone(1.0, 44100, 2).T, 44100)
    assert (
        main(
            [
                "-q",
                "edit",
                "--audio",
                str(path),
                "--source",
                "piano",
                "--target",
                "violin",
                "--model",
                "tiny",
                "--prompt",
                "A gentle piano piece",
                "--steps",
                "4",
                "--strategy",
                "midpoint",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "out" / "edit.json").read_text())
    assert record["swap_step"] == 2 and record["target_prompt"] == "A gentle violin piece"
    edit, _ = sf.read(tmp_path / "out" / "edit.wav")
    recon, _ = sf.read(tmp_path / "out" / "reconstruction.wav")
    assert edit.shape == recon.shape and not np.allclose(edit, recon)


# -- bad input -----------------------------------------------------------------------------------
BAD = {
    "missing": (None, "file does not exist"),
    "empty": (b"", "empty file"),
    "garbage": (b"not audio at all" * 100, "cannot decode"),
    "silent": ("silent", "silent"),
    "long": ("long", "longer than the model's window of 3.02 s"),
}


def _bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    content, message = BAD[kind]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "silent":
        sf.write(path, np.zeros(44100, dtype=np.float32), 44100)
    elif content == "long":
        sf.write(path, tone(4.0, 44100).T, 44100)
    return path, message


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_recordings_get_one_message_naming_the_file(tmp_path, kind):
    path, message = _bad_file(tmp_path, kind)
    with pytest.raises(AudioError, match=message) as info:
        load_recording(path, load_backbone("demo"))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["garbage"])  # too long: tests/test_long_audio.py
def test_cli_bad_recording_exits_1_and_writes_nothing(tmp_path, capsys, kind):
    path, message = _bad_file(tmp_path, kind)
    out = tmp_path / "out"
    assert (
        main(
            [
                "edit",
                "--audio",
                str(path),
                "--source",
                "piano",
                "--target",
                "violin",
                "--model",
                "demo",
                "--steps",
                "4",
                "--strategy",
                "none",
                "-o",
                str(out),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("difftone edit: error: ") and message in err[-1] and str(path) in err[-1]
    assert not out.exists()


# -- the Table IV stage's inputs -------------------------------------------------------------------
def test_collect_recordings_reads_instrument_folders_and_irmas_test_labels(tmp_path):
    from difftone.experiment.items import ExperimentError
    from difftone.experiment.real_audio import collect_recordings, table4_rows

    for name in ("pia/b.wav", "pia/a.wav", "vio/x.wav", "test/solo.wav", "test/duo.wav", "test/no_label.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / name, tone(0.5, 44100).T, 44100)
    (tmp_path / "test/solo.txt").write_text("flu\n")
    (tmp_path / "test/duo.txt").write_text("flu\npia\n")  # two instruments: not a single-instrument clip
    found = collect_recordings(["pia", "vio", "flu"], 1, folder=tmp_path)
    assert [(r.instrument, r.path.replace(str(tmp_path) + "/", "")) for r in found.itertuples()] == [
        ("pia", "pia/a.wav"),
        ("flu", "test/solo.wav"),
        ("vio", "vio/x.wav"),
    ]
    with pytest.raises(ExperimentError, match="no single-instrument recording of cel"):
        collect_recordings(["pia", "cel"], 1, folder=tmp_path)
    rows = table4_rows(
        ["difftone", "sigma:2.0"],
        30,
        3.0,
        4.0,
        {"enabled": True, "edit_from": 0.5, "source_guidance": 1.0, "target_guidance": 12.0},
    )
    assert list(rows) == ["difftone", "sigma-2.0", "zeta"]
    assert rows["zeta"]["strategy"] == "fixed:15" and rows["zeta"]["inversion"] == "guidance-1"
    assert rows["difftone"]["inversion"] == "guidance-3" and rows["difftone"]["target_guidance"] == 4.0
