"""difftone.audio: decode, channels, resampling, checks and atomic writes."""

import numpy as np
import pytest
import soundfile as sf

from difftone import audio
from difftone.audio import AudioError
from difftone.files import atomic_path

SR = 44100


def tone(freq=440.0, seconds=1.0, sr=SR, amp=0.5, channels=2):
    t = np.arange(int(seconds * sr)) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t))[None].astype(np.float32), channels, axis=0)


def test_write_then_load_round_trips_channel_first_float32(tmp_path):
    wave = tone(channels=2)
    wave[1] *= 0.5  # distinct channels
    path = audio.write(tmp_path / "a.wav", wave, SR)
    got, rate = audio.load(path)
    assert rate == SR and got.dtype == np.float32 and got.shape == wave.shape
    np.testing.assert_allclose(got, wave, atol=2 / 32768)  # PCM_16 quantisation
    assert sf.info(str(path)).subtype == "PCM_16"
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp file left


def test_channels_mono_and_stereo(tmp_path):
    stereo = np.stack([np.full(10, 0.2), np.full(10, 0.6)]).astype(np.float32)
    np.testing.assert_allclose(audio.to_channels(stereo, 1), np.full((1, 10), 0.4), rtol=1e-6)
    mono = np.arange(5, dtype=np.float32)
    assert audio.to_channels(mono, 2).shape == (2, 5)
    np.testing.assert_array_equal(audio.to_channels(mono, 2)[1], mono)
    path = audio.write(tmp_path / "m.wav", mono[None] / 10, SR)
    wave, _ = audio.load(path, channels=2)
    assert wave.shape == (2, 5)


def test_resample_keeps_pitch_and_duration(tmp_path):
    path = audio.write(tmp_path / "t.wav", tone(freq=1000.0, seconds=1.0), SR)
    wave, rate = audio.load(path, sample_rate=24000, channels=1)
    assert rate == 24000 and wave.shape == (1, 24000)
    spectrum = np.abs(np.fft.rfft(wave[0]))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins


def test_corrupt_wav_names_the_file(tmp_path):
    path = tmp_path / "[pia][cla]0001__1.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio" * 3)
    with pytest.raises(AudioError, match=r"\[pia\]\[cla\]0001__1\.wav: cannot decode"):
        audio.load(path)
    with pytest.raises(AudioError, match="corrupt"):
        audio.info(path)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioError, match=r"empty\.wav: empty file"):
        audio.load(empty)
    with pytest.raises(AudioError, match=r"nope\.wav: file does not exist"):
        audio.load(tmp_path / "nope.wav")


def test_wav_without_samples(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(str(path), np.zeros((0, 2), np.float32), SR, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio samples"):
        audio.load(path)


def test_silence_checks():
    audio.check_silence(tone(), SR, "ok.wav")
    with pytest.raises(AudioError, match=r"quiet\.wav: silent"):
        audio.check_silence(np.zeros((2, SR), np.float32), SR, "quiet.wav")
    gap = np.concatenate([tone(seconds=1.0), np.zeros((2, 2 * SR), np.float32)], axis=1)
    with pytest.raises(AudioError, match=r"gap\.wav: mostly silent \(67%"):
        audio.check_silence(gap, SR, "gap.wav", max_silent_fraction=0.5)
    audio.check_silence(gap, SR, "gap.wav", max_silent_fraction=0.7)


def test_frame_levels_of_a_full_scale_sine():
    levels = audio.frame_rms_db(tone(amp=1.0, seconds=0.5), SR)
    assert len(levels) == 10
    np.testing.assert_allclose(levels, -3.01, atol=0.05)


def test_clip_rate_and_length_checks():
    audio.check_clip("a.wav", SR, 3 * SR, SR, 3.0)
    with pytest.raises(AudioError, match=r"a\.wav: sample rate 22050 Hz, expected 44100 Hz"):
        audio.check_clip("a.wav", 22050, 3 * 22050, SR, 3.0)
    with pytest.raises(AudioError, match=r"a\.wav: length 2\.500 s, expected 3 s"):
        audio.check_clip("a.wav", SR, int(2.5 * SR), SR, 3.0)


def test_normalize_peak():
    wave = audio.normalize_peak(tone(amp=0.1), 0.8)
    assert audio.peak(wave) == pytest.approx(0.8)
    assert audio.peak(audio.normalize_peak(np.zeros((2, 4)), 0.8)) == 0


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.csv"
    final.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert final.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with atomic_path(final) as tmp:
        tmp.write_text("new\n")
    assert final.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_write_limits_the_peak_records_the_gain_and_never_clips(tmp_path):
    loud = tone(amp=1.7, channels=2)
    loud[1] *= 0.5
    path = audio.write(tmp_path / "loud.wav", loud, SR)
    got, _ = audio.load(path)
    assert audio.peak(got) == pytest.approx(audio.PEAK_CEILING, abs=1e-4)
    assert audio.longest_full_scale_run(got) == 0
    gain = audio.written_gain(path)
    assert gain == pytest.approx(audio.PEAK_CEILING / 1.7, rel=1e-5)
    np.testing.assert_allclose(got / gain, loud, atol=4 / 32768)  # the unclipped signal, scaled back
    quiet = audio.write(tmp_path / "quiet.wav", tone(amp=0.5), SR)  # below the ceiling: as it is
    assert audio.written_gain(quiet) == 1.0
    assert audio.peak(audio.load(quiet)[0]) == pytest.approx(0.5, abs=1e-4)


def test_write_stores_identical_channels_as_mono(tmp_path):
    path = audio.write(tmp_path / "dual.wav", tone(channels=2), SR)
    assert audio.info(path).channels == 1
    stereo = tone(channels=2)
    stereo[1] *= 0.9
    assert audio.info(audio.write(tmp_path / "st.wav", stereo, SR)).channels == 2


def test_longest_full_scale_run_finds_clipping():
    wave = np.zeros((2, 100), np.float32)
    wave[1, 10:15] = 1.0
    wave[0, 50] = -1.0
    assert audio.longest_full_scale_run(wave) == 5
    assert audio.longest_full_scale_run(np.zeros((1, 10))) == 0


def test_match_level_sets_the_rms_and_never_exceeds_the_peak_ceiling():
    quiet = tone(amp=0.01, seconds=0.5)
    matched, gain_db = audio.match_level(quiet, -20.0)
    assert abs(audio.rms_db(matched) - -20.0) < 1e-3 and abs(gain_db - (-20.0 - audio.rms_db(quiet))) < 1e-3
    assert np.allclose(matched, quiet * 10 ** (gain_db / 20), atol=1e-6)  # a pure gain
    loud, gain_db = audio.match_level(quiet, 0.0)  # a sine's peak is 3 dB above its RMS: the limit holds it
    assert abs(audio.peak(loud) - audio.PEAK_CEILING) < 1e-6 and audio.rms_db(loud) < -3.9
    assert abs(gain_db - 20 * np.log10(audio.PEAK_CEILING / audio.peak(quiet))) < 1e-3
    silent, gain_db = audio.match_level(np.zeros((1, 100), np.float32), -20.0)
    assert gain_db == 0.0 and not silent.any()
