"""Recordings longer than the model's window, and passages of them (difftone.long_audio, difftone edit --audio).

The engine tests run the demo model (3.02 s windows, 0.38 s overlap at the default 6 s on SAO) at 4
steps on 7.5 s files: three windows, two seams.

Seam bound (stated in the README section): around every seam (the crossfade and one analysis frame
either side; frames of 2048 samples, hop 512), the short-time energy stays within the range of the
rest of the edit widened by 1.5 dB (the test tone's tremolo may peak near a seam), and the frame-to-frame energy change (dB) and spectral flux stay at most their
largest value elsewhere in the same edit. On the demo model (whose Griffin-Lim decoder is rough: 9.4 dB
frame-to-frame changes anywhere) the seams measured 7.2 dB / 0.62 against 9.4 dB / 0.74 elsewhere;
a 50 ms dropout at a seam breaks the bound, which the test checks too.
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
from difftone.engine import Editor
from difftone.long_audio import (
    LongSettings,
    PassageError,
    SharedInversions,
    check_passage,
    common_step,
    crossfade_gains,
    edit_recording,
    join_spans,
    join_windows,
    overlap_samples,
    plan_windows,
    seams,
    splice,
    to_file,
)
from difftone.metrics.chroma import chroma_distance
from difftone.models import load_backbone
from difftone.real_audio import load_recording

torch.set_num_threads(1)

STEPS = 4
LEVEL_DB = 1.5  # the seams' short-time energy may exceed the rest's range by this much (a +3 dB swell may not)
PROMPT = "A recording of piano"


def sustained(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    """Two held notes with slow vibrato and tremolo: steady enough that a seam artefact stands out."""
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 262 * t * (1 + 0.01 * np.sin(3 * t))) * (0.7 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    x = x + 0.1 * np.sin(2 * np.pi * 392 * t)
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


# -- pure parts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "total,window,overlap",
    [(100, 40, 10), (1000, 133, 17), (41, 40, 10), (40, 40, 5), (7, 40, 5), (882000, 133120, 16796)],
)
def test_windows_cover_the_recording_with_at_least_the_overlap_and_as_few_as_possible(total, window, overlap):
    spans = plan_windows(total, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == total
    if total <= window:
        assert spans == [(0, total)]
        return
    assert all(e - s == window for s, e in spans)
    overlaps = [a_end - b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])]
    assert min(overlaps) >= overlap and max(overlaps) - min(overlaps) <= 1  # spread evenly
    assert len(spans) == 1 or (len(spans) - 1) * (window - overlap) < total - overlap  # one fewer would not cover


def test_overlap_is_given_on_saos_window_and_scaled_to_the_model():
    demo = load_backbone("demo")
    assert overlap_samples(6.0, demo) == round(6.0 * 3.0186 / 47.5544 * 44100)  # 0.38 s
    assert overlap_samples(0.0, demo) == 0


def test_crossfade_gains_keep_the_power_for_the_measured_correlation():
    fade_out, fade_in = crossfade_gains(1000, 0.0)
    t = (np.arange(1000) + 1) / 1001
    assert np.allclose(fade_in, np.sin(np.pi / 2 * t)) and np.allclose(fade_out, np.cos(np.pi / 2 * t))  # equal power
    for r in (0.0, 0.4, 1.0):
        fo, fi = crossfade_gains(500, r)
        assert np.allclose(fi**2 + fo**2 + 2 * r * fi * fo, 1.0)
        assert np.all(np.diff(fi) > 0) and np.all(np.diff(fo) < 0)
    fo, fi = crossfade_gains(500, 1.0)
    assert np.allclose(fi + fo, 1.0)  # identical signals: equal gain, no +3 dB swell


def test_joining_windows_cut_from_one_signal_gives_the_signal_back_and_noise_keeps_its_level():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((2, 5000))
    spans = plan_windows(5000, 1200, 300)
    assert np.allclose(join_windows([signal[:, s:e] for s, e in spans], spans), signal, atol=1e-12)
    # independent noise in every window: the equal-power seams keep its level (no dip, no swell)
    pieces = [rng.standard_normal((2, e - s)) for s, e in spans]
    joined = join_windows(pieces, spans)
    for a, b in seams(spans):
        assert 0.85 < np.sqrt(np.mean(joined[:, a:b] ** 2)) < 1.15


def test_one_step_for_all_windows_by_the_stated_rule():
    assert common_step([12, 3, 20, 7], "median") == 7  # lower median
    assert common_step([12, 3, 20], "median") == 12
    assert common_step([12, 3, 20], "earliest") == 3 and common_step([12, 3, 20], "latest") == 20
    assert common_step([None, 9, None], "median") == 9 and common_step([None, None], "latest") is None
    assert common_step([15] * 8, "latest") == 15  # a fixed step stays that step
    with pytest.raises(ValueError, match="window_step_rule"):
        common_step([1], "mean")


def test_passages_are_checked_with_one_message_and_the_splice_keeps_everything_outside():
    sr, dur = 100, 10.0
    p = check_passage("a.wav", 2.0, 5.0, dur, sr, 0.5)
    assert (p.start, p.end, p.fade_in, p.fade_out, p.outer) == (200, 500, 50, 50, (150, 550))
    assert check_passage("a.wav", 0.2, None, dur, sr, 0.5).fade_in == 20  # shortened at the file's start
    assert check_passage("a.wav", None, None, dur, sr, 0.5) is None
    for start, end, message in [
        (5, 2, "is not after --start"),
        (-1, 2, "outside the file"),
        (8, 11, "outside the file"),
        (2, 2.3, "shorter than its fade"),
    ]:
        with pytest.raises(PassageError, match=message) as info:
            check_passage("a.wav", start, end, dur, sr, 0.5)
        assert "a.wav" in str(info.value) and "\n" not in str(info.value)
    rng = np.random.default_rng(1)
    original, edited = rng.standard_normal((2, 1000)), rng.standard_normal((2, 1000))
    out = splice(original, edited, p)
    assert np.array_equal(out[:, :150], original[:, :150]) and np.array_equal(out[:, 550:], original[:, 550:])
    assert np.array_equal(out[:, 200:500], edited[:, 200:500])


# -- on the demo model ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    backbone = load_backbone("demo")
    return backbone, Editor(
        backbone, tiny_latent_classifier(backbone.latent_channels, ["pia", "vio", "gac"]), progress=False
    )


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "in.wav"
    sf.write(path, sustained(7.5, 44100).T, 44100, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def edited(demo, long_file):
    backbone, editor = demo
    rec = load_recording(long_file, backbone, max_seconds=600)
    return rec, edit_recording(
        editor,
        rec,
        PROMPT,
        "pia",
        ["vio"],
        "midpoint",
        LongSettings(),
        steps=STEPS,
        source_guidance=3.0,
        target_guidance=1.5,
    )


def test_edits_sharing_one_inversion_are_bit_for_bit_those_of_their_own_inversions(demo, edited):
    """Two edits of the same windows share one inversion (each with its target guidance and strategy); a
    passage, whose windows differ, inverts its own: every result equals that of an inversion of its own."""
    backbone, editor = demo
    rec, alone = edited  # midpoint at target guidance 1.5, inverted on its own

    def run(strategy, guidance, inversions=None, recording=rec, **passage):
        return edit_recording(
            editor,
            recording,
            PROMPT,
            "pia",
            ["vio"],
            strategy,
            LongSettings(),
            steps=STEPS,
            source_guidance=3.0,
            target_guidance=guidance,
            inversions=inversions,
            **passage,
        )

    shared = SharedInversions(editor, rec)
    nfe0 = editor.nfe
    first, second = run("midpoint", 1.5, shared), run("fixed:1", 12.0, shared)
    passage = run("fixed:1", 12.0, shared, start=3.0, end=5.0)
    assert (first.inverted_here, second.inverted_here, passage.inverted_here) == (True, False, True)
    edits_nfe = sum(r.edits[0].nfe for r in (first, second, passage))
    assert editor.nfe - nfe0 == first.nfe_inversion + passage.nfe_inversion + edits_nfe  # two inversions, not three
    assert second.nfe_inversion == first.nfe_inversion == 3 * STEPS
    own_second, own_passage = run("fixed:1", 12.0), run("fixed:1", 12.0, start=3.0, end=5.0)
    for got, own in [(first, alone), (second, own_second), (passage, own_passage)]:
        assert got.inverted.spans == own.inverted.spans
        assert got.edits[0].swap_step == own.edits[0].swap_step and got.edits[0].nfe == own.edits[0].nfe
        assert np.array_equal(got.outputs[0], own.outputs[0]) and np.array_equal(got.reconstruction, own.reconstruction)
    low = run("fixed:1", 1.5, shared)  # the shared windows at another target guidance: another edit
    assert not low.inverted_here and not np.allclose(low.outputs[0], second.outputs[0], atol=1e-3)
    assert len(passage.inverted.spans) < len(first.inverted.spans)
    with pytest.raises(ValueError, match="shared inversions are of"):
        run("fixed:1", 1.5, shared, recording=load_recording(rec.path, backbone, max_seconds=600))


def _frames(wave: np.ndarray, frame: int = 2048, hop: int = 512):
    w = wave.mean(axis=0)
    n = (len(w) - frame) // hop
    frames = np.stack([w[i * hop : i * hop + frame] * np.hanning(frame) for i in range(n)])
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    mag = np.abs(np.fft.rfft(frames, axis=1))
    flux = np.linalg.norm(np.maximum(np.diff(mag, axis=0), 0), axis=1) / (np.linalg.norm(mag[1:], axis=1) + 1e-9)
    ends = np.arange(n - 1) * hop + frame  # the last sample the pair (i, i + 1) reads
    return energy, np.abs(np.diff(energy)), flux, ends, frame


def seam_report(wave: np.ndarray, regions) -> dict:
    energy, jump, flux, ends, frame = _frames(wave)
    near = np.zeros(len(jump), bool)
    for a, b in regions:
        near |= (ends >= a - frame) & (ends <= b + 2 * frame)
    seam, rest = energy[1:][near], energy[1:][~near]
    return {
        "energy_in_range": bool(seam.min() >= rest.min() - LEVEL_DB and seam.max() <= rest.max() + LEVEL_DB),
        "energy": (float(seam.min()), float(seam.max()), float(rest.min()), float(rest.max())),
        "jump": (float(jump[near].max()), float(jump[~near].max())),
        "flux": (float(flux[near].max()), float(flux[~near].max())),
    }


def test_every_seam_has_no_click_and_no_level_jump(demo, edited):
    backbone, _ = demo
    rec, result = edited
    assert len(result.inverted.spans) == 3
    regions = [
        (a * rec.sample_rate // backbone.sample_rate, b * rec.sample_rate // backbone.sample_rate)
        for a, b in seams(result.inverted.spans)
    ]
    for wave in (result.outputs[0], result.reconstruction):
        report = seam_report(wave, regions)
        assert report["energy_in_range"], report
        assert report["jump"][0] <= report["jump"][1] and report["flux"][0] <= report["flux"][1], report
    # the bound can fail: a 50 ms dropout at each seam's centre breaks it
    gap = result.reconstruction.copy()
    for a, b in regions:
        gap[:, (a + b) // 2 : (a + b) // 2 + 2205] = 0
    assert not seam_report(gap, regions)["energy_in_range"]


def test_an_edit_has_one_step_each_windows_trace_and_the_inputs_format(edited):
    rec, result = edited
    edit = result.edits[0]
    assert edit.swap_step == STEPS // 2 and [w["swap_step"] for w in edit.windows] == [STEPS // 2] * 3
    assert all(w["trace"] is not None and len(w["trace"]["top1"]) == STEPS for w in edit.windows)
    assert edit.nfe == 3 * (STEPS - edit.swap_step) and result.nfe_inversion == 3 * STEPS
    assert result.outputs[0].shape == (1, rec.samples) and result.sample_rate == 44100
    assert not np.allclose(result.outputs[0], result.reconstruction, atol=1e-3)
    assert 0 < result.info()["cache_mb_per_window"] < 4  # the demo model's memory per window


def test_cli_none_on_a_long_file_is_the_windowed_vae_round_trip_at_the_inputs_format(demo, tmp_path):
    backbone, _ = demo
    path = tmp_path / "in.wav"
    x = sustained(7.5, 48000, 2)
    sf.write(path, x.T, 48000)
    out = tmp_path / "out"
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
                "demo",
                "--steps",
                str(STEPS),
                "--strategy",
                "none",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    edit, sr = sf.read(out / "edit.wav", always_2d=True)
    recon, _ = sf.read(out / "reconstruction.wav", always_2d=True)
    assert sr == 48000 and edit.shape == (x.shape[1], 2) and np.array_equal(edit, recon)
    # the windowed round trip, computed here: each window encoded and decoded by the VAE alone, then joined
    rec = load_recording(path, backbone, max_seconds=600)
    window = backbone.window_frames * backbone.hop_length  # each window reads the whole window, gives one hop less
    spans = plan_windows(
        rec.wave.shape[1], window - backbone.hop_length, overlap_samples(LongSettings().window_overlap, backbone)
    )
    padded = torch.nn.functional.pad(torch.from_numpy(rec.wave), (0, window))
    pieces = [
        backbone.decode(backbone.encode_audio(padded[None, :, s : s + window]))[0, :, : e - s].float() for s, e in spans
    ]
    from difftone.long_audio import InvertedWindows

    expected = to_file(join_spans(pieces, spans), InvertedWindows(rec, PROMPT, spans), backbone.sample_rate).T
    assert np.abs(edit - expected).max() <= 1e-3 * np.abs(expected).max()
    record = json.loads((out / "edit.json").read_text())
    assert len(record["windows"]) == 3 == len(record["window_steps"]) and record["swap_step"] == STEPS
    # as close to the input as one window's round trip is to its part of the input
    single = [chroma_distance(p.numpy(), rec.wave[:, s:e], backbone.sample_rate) for p, (s, e) in zip(pieces, spans)]
    assert chroma_distance(edit.T, x, 48000) <= 1.1 * np.mean(single)


def test_cli_passage_edit_leaves_everything_outside_bit_for_bit(demo, tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, sustained(9.0, 44100, 2).T, 44100, subtype="PCM_16")
    out = tmp_path / "out"
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
                "demo",
                "--steps",
                str(STEPS),
                "--strategy",
                "midpoint",
                "--start",
                "3",
                "--end",
                "6",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    original, _ = sf.read(path, dtype="int16", always_2d=True)
    edit, sr = sf.read(out / "edit.wav", always_2d=True)  # float: compare at the input's scale
    assert sr == 44100 and edit.shape == original.shape
    lo, hi = int(round(2.9 * 44100)), int(round(6.1 * 44100))  # fade 0.1 s
    assert np.array_equal(edit[:lo] * 32768, original[:lo]) and np.array_equal(edit[hi:] * 32768, original[hi:])
    inside = slice(int(3 * 44100), int(6 * 44100))
    assert not np.allclose(edit[inside] * 32768, original[inside], atol=50)
    record = json.loads((out / "edit.json").read_text())
    assert record["passage"]["changed"] == pytest.approx([2.9, 6.1])
    assert len(record["windows"]) == 2  # only the windows around the passage, not the four of the file


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--start", "5", "--end", "2"], "is not after --start"),
        (["--start", "6", "--end", "12"], "outside the file"),
        (["--start", "2", "--end", "2.05"], "shorter than its fade"),
        (["--config", "MAX"], "longer than real_audio.max_seconds"),
    ],
)
def test_cli_bad_passages_and_too_long_files_exit_1_and_write_nothing(tmp_path, capsys, monkeypatch, flags, message):
    import difftone.models

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(difftone.models, "load_backbone", no_model)  # refused before any model load
    path = tmp_path / "in.wav"
    sf.write(path, sustained(7.5, 44100).T, 44100)
    if "MAX" in flags:
        (tmp_path / "max.yaml").write_text("real_audio:\n  max_seconds: 5\n")
        flags = ["--config", str(tmp_path / "max.yaml")]
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
                str(STEPS),
                "--strategy",
                "none",
                *flags,
                "-o",
                str(out),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("difftone edit: error: ") and message in err[-1] and str(path) in err[-1]
    assert not out.exists()


def test_load_recording_without_a_limit_refuses_more_than_one_window(tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, sustained(4.0, 44100).T, 44100)
    with pytest.raises(AudioError, match="longer than the model's window"):
        load_recording(path, load_backbone("demo"))
    assert load_recording(path, load_backbone("demo"), max_seconds=10).samples == 4 * 44100


# -- on the tiny model ------------------------------------------------------------------------------------
def test_a_passage_of_one_full_window_keeps_every_sample_on_the_tiny_model(tmp_path):
    """The tiny model's usable window (255 hops: 522240 samples) is a sample count that a duration in seconds
    does not give back by truncation (522240 / 44100 * 44100 = 522239.99...): the one window around a short
    passage must still decode to its whole span, and the passage edit keep the input's length."""
    backbone = load_backbone("tiny")
    editor = Editor(backbone, progress=False)
    usable = (backbone.window_frames - 1) * backbone.hop_length
    path = tmp_path / "in.wav"
    sf.write(path, sustained(15.0, 44100).T, 44100, subtype="PCM_16")
    rec = load_recording(path, backbone, max_seconds=600)
    result = edit_recording(
        editor,
        rec,
        PROMPT,
        "pia",
        ["vio"],
        "fixed:1",
        LongSettings(),
        steps=2,
        source_guidance=3.0,
        target_guidance=1.5,
        start=6.0,
        end=8.0,
    )
    assert result.inverted.spans[-1][1] - result.inverted.spans[0][0] == usable  # one window, the usable span
    assert len(result.inverted.spans) == 1
    original, _ = sf.read(path, dtype="float64", always_2d=True)
    assert result.outputs[0].shape == original.T.shape
    lo, hi = result.inverted.passage.outer
    assert np.array_equal(result.outputs[0][:, :lo], original.T[:, :lo])
    assert np.array_equal(result.outputs[0][:, hi:], original.T[:, hi:])
