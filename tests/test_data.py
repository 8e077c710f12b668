"""The data stage: embedded render, IRMAS names/download/extract, scan + split, and the rules."""

import hashlib
import re
import subprocess
import sys
import urllib.error
import zipfile
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pretty_midi
import pytest
import soundfile as sf
import yaml
from conftest import link_workflow

from difftone import audio
from difftone.audio import AudioError
from difftone.data import (
    DataError,
    download,
    extract,
    irmas,
    parse_name,
    read_index,
    render_embedded,
    scan_clips,
    split_clips,
)
from difftone.data.render import KIND_CYCLE, PROFILES, render_clip, shared_score
from difftone.data.soundfonts import resolve_soundfont
from difftone.instruments import INSTRUMENTS

SR = 44100
RENDERED = ["pia", "flu", "gac", "vio"]
N_CLIPS = 10
FONTS = ["TimGM6mb", "sf_GMbank", "MuseScore_General_Lite"]  # config.yaml's
HELDOUT, N_HELDOUT = "MuseScore_General_Lite", 2
RENDER = dict(  # the test dataset: the training soundfonts with patch variants, and the held-out one
    instruments=RENDERED,
    clips_per_instrument=N_CLIPS,
    seed=0,
    soundfonts=FONTS,
    heldout_soundfont=HELDOUT,
    heldout_clips=N_HELDOUT,
    patch_variants=True,
)


# --- embedded dataset ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "embedded"
    manifest = render_embedded(out, **RENDER)
    return out, manifest


def test_render_has_irmas_layout_and_format(rendered):
    out, manifest = rendered
    root = out / "IRMAS-TrainingData"
    assert sorted(p.name for p in root.iterdir()) == sorted(RENDERED)
    for code in RENDERED:
        files = sorted((root / code).iterdir())
        assert len(files) == N_CLIPS + N_HELDOUT
        for f in files:
            assert re.fullmatch(
                rf"\[{code}\](\[nod\])?\[(cla|cou_fol|jaz_blu|lat_sou|pop_roc)\]\d{{4}}__1\.wav", f.name
            )
            assert parse_name(f.name).instrument == code
            i = sf.info(str(f))
            assert (i.samplerate, i.channels, i.frames, i.subtype) == (SR, 2, 3 * SR, "PCM_16")
            assert (out / "midi" / code / (f.stem + ".mid")).is_file()
    assert len(manifest) == len(RENDERED) * (N_CLIPS + N_HELDOUT)
    assert (out / "render.csv").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # temp folder renamed away


def test_rendered_clips_sound_throughout_and_are_stereo(rendered):
    out, manifest = rendered
    for rel in manifest["path"]:
        wave, rate = audio.load(out / rel)
        # strict: not one 50 ms frame below -60 dBFS anywhere in the 3 s
        audio.check_silence(wave, rate, rel, silence_db=-60.0, max_silent_fraction=0.0)
        assert 0.45 < audio.peak(wave) <= 0.91
        assert not np.allclose(wave[0], wave[1])  # real stereo (pan, reverb)


def test_rendered_clips_vary_in_pitch_kind_and_dynamics(rendered):
    out, manifest = rendered
    for code, clips in manifest.groupby("instrument"):
        prof = PROFILES[code]
        pitches = [int(p) for s in clips["pitches"] for p in s.split()]
        assert prof.low <= min(pitches) and max(pitches) <= prof.high
        notes = clips[clips["kind"] == "note"]
        assert len(notes) >= 0.4 * len(clips)  # a good share of single sustained notes
        assert notes["pitches"].nunique() >= 4  # at varied pitch
        assert set(clips["kind"]) == {"note", "phrase", "chord"}
        assert clips.loc[clips["kind"] != "note", "n_notes"].min() >= 2  # phrases and chords
        assert clips["velocity"].nunique() >= 4
        # the audio agrees: the dominant pitch class differs across the clips of one instrument
        classes = set()
        for rel in clips["path"]:
            wave, rate = audio.load(out / rel, sample_rate=22050, channels=1)
            classes.add(int(np.argmax(librosa.feature.chroma_stft(y=wave[0], sr=rate).mean(axis=1))))
        assert len(classes) >= 4, (code, classes)


def test_single_note_clips_have_the_pitch_the_manifest_says(rendered):
    out, manifest = rendered
    notes = manifest[(manifest["kind"] == "note") & (manifest["instrument"].isin(["flu", "vio"]))]
    for _, row in notes.iterrows():
        wave, rate = audio.load(out / row["path"], sample_rate=22050, channels=1)
        chroma = librosa.feature.chroma_cqt(y=wave[0], sr=rate).mean(axis=1)
        assert int(np.argmax(chroma)) == int(row["pitches"]) % 12, row["path"]


def test_every_instrument_plays_the_shared_score_of_its_clip_number(rendered):
    out, manifest = rendered
    manifest["index"] = [parse_name(Path(p).name).number - 1 for p in manifest["path"]]
    assert (manifest["score"] == "shared").mean() >= 0.8  # most at the very notes; a few an octave or two down
    for index, clips in manifest.groupby("index"):
        score = shared_score(0, index, 3.0)
        assert clips["kind"].nunique() == 1
        for _, row in clips[clips["score"].str.startswith("shared")].iterrows():
            shift = int(row["register"])
            assert shift % 12 == 0
            played = pretty_midi.PrettyMIDI(str(out / "midi" / row["instrument"] / (Path(row["path"]).stem + ".mid")))
            notes = played.instruments[0].notes
            assert [n.pitch for n in notes] == [n.pitch + shift for n in score]
            np.testing.assert_allclose([n.start for n in notes], [n.start for n in score], atol=5e-3)  # MIDI ticks
    assert manifest.groupby("index")["pitches"].nunique().max() <= 4  # (octave moves only)
    assert manifest["register"].nunique() >= 2  # the clips draw their register


def test_each_instrument_is_several_renditions_and_one_soundfont_is_held_out(rendered):
    """Training clips are dealt over the training soundfonts (each instrument meets all), with drawn GM patches
    and reverb; the held-out soundfont renders clips of their own scores with each instrument's own patch."""
    out, manifest = rendered
    recorded = pd.read_csv(out / "render.csv")
    assert {"soundfont", "program", "register", "reverb_room", "reverb_level", "heldout"} <= set(recorded.columns)
    number = np.array([parse_name(Path(p).name).number for p in manifest["path"]])
    train, held = manifest[number <= N_CLIPS], manifest[number > N_CLIPS]
    assert set(held["soundfont"]) == {HELDOUT} and held["heldout"].all() and not train["heldout"].any()
    for code, clips in train.groupby("instrument"):
        counts = clips["soundfont"].value_counts()
        assert set(counts.index) == {"TimGM6mb", "sf_GMbank"} and counts.max() - counts.min() <= 1, code
    assert train.loc[train["instrument"] == "gac", "program"].nunique() == 2  # nylon and steel
    assert (held["program"] == [INSTRUMENTS[c].gm_program for c in held["instrument"]]).all()
    assert train["reverb_room"].nunique() > 10 and train["velocity_scale"].nunique() > 10
    assert len(held) == len(RENDERED) * N_HELDOUT


def test_a_score_sounds_different_from_another_soundfont_and_a_clip_ignores_the_one_before():
    a = render_clip("vio", 3, seed=0, sample_rate=SR, seconds=3.0, soundfont="TimGM6mb", variants=False)[0]
    b = render_clip("vio", 3, seed=0, sample_rate=SR, seconds=3.0, soundfont="MuseScore_General_Lite", variants=False)[
        0
    ]
    again = render_clip("vio", 3, seed=0, sample_rate=SR, seconds=3.0, soundfont="TimGM6mb", variants=False)[0]
    np.testing.assert_array_equal(a, again)  # a fresh synthesizer per clip: no reverb tail of the clip before
    assert abs(np.corrcoef(a[0], b[0])[0, 1]) < 0.5


def test_soundfont_errors_name_the_key_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="kept aside"):
        resolve_soundfont("FluidR3_GM")
    with pytest.raises(DataError, match="kept aside"):
        resolve_soundfont(str(tmp_path / "FluidR3Mono_GM.sf3"))
    with pytest.raises(DataError, match="neither a known soundfont"):
        resolve_soundfont("NoSuchFont")
    with pytest.raises(DataError, match="does not exist"):
        resolve_soundfont(str(tmp_path / "mine.sf2"))
    with pytest.raises(DataError, match="data.heldout_soundfont"):
        render_embedded(
            tmp_path / "e", ["pia"], 3, soundfonts=["TimGM6mb"], heldout_soundfont="TimGM6mb", heldout_clips=1
        )
    assert not (tmp_path / "e").exists()


def test_render_is_seeded_and_deterministic():
    a, _, meta_a = render_clip("pia", 3, seed=0, sample_rate=SR, seconds=3.0)
    b, _, meta_b = render_clip("pia", 3, seed=0, sample_rate=SR, seconds=3.0)
    c, _, _ = render_clip("pia", 3, seed=1, sample_rate=SR, seconds=3.0)
    np.testing.assert_array_equal(a, b)
    assert meta_a == meta_b and meta_a["kind"] == KIND_CYCLE[3]
    assert not np.array_equal(a, c)


def test_render_refuses_voice_and_existing_output(tmp_path):
    with pytest.raises(DataError, match="'voi'.*no General MIDI program.*data.source: irmas"):
        render_embedded(tmp_path / "e", ["pia", "voi"], 2)
    (tmp_path / "e").mkdir()
    with pytest.raises(DataError, match="already exists"):
        render_embedded(tmp_path / "e", ["pia"], 2)


# --- IRMAS names, download, extract ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("[cel][cla]0001__1.wav", ("cel", None, "cla", 1, 1)),
        ("[gac][dru][pop_roc]0560__2.wav", ("gac", "dru", "pop_roc", 560, 2)),
        ("008__[cel][nod][cou_fol]0058__3.wav", ("cel", "nod", "cou_fol", 58, 3)),
        ("take1.wav", None),
        ("[cel][cla]0001__1.mp3", None),
    ],
)
def test_parse_irmas_names(name, expected):
    got = parse_name(name)
    assert (got and (got.instrument, got.drums, got.genre, got.number, got.excerpt)) == expected
    if expected:
        code, drums, genre, number, excerpt = expected
        assert parse_name(irmas.format_name(code, genre, number, excerpt, drums=drums)) == replace(got, prefix=None)


def test_excerpts_of_one_irmas_recording_share_a_recording_id():
    a, b = parse_name("[gac][dru][pop_roc]0560__1.wav"), parse_name("[gac][dru][pop_roc]0560__2.wav")
    assert a.recording == b.recording != parse_name("[gac][dru][pop_roc]0561__1.wav").recording
    assert parse_name("008__[cel][nod][cla]0058__3.wav").recording == "008__cel-nod-cla-0058"


def _zip(tmp_path, content=b"RIFF..."):
    z = tmp_path / "src.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("IRMAS-TrainingData/pia/[pia][cla]0001__1.wav", content)
        zf.writestr("IRMAS-TrainingData/README.txt", "readme")
    return z


def test_download_checks_md5_and_leaves_nothing_on_mismatch(tmp_path):
    src = _zip(tmp_path)
    dest_dir = tmp_path / "resources"
    dest = dest_dir / "IRMAS-TrainingData.zip"
    with pytest.raises(DataError, match=r"checksum mismatch for file://.*src\.zip: md5 [0-9a-f]{32}, expected 0{32}"):
        download(src.as_uri(), dest, "0" * 32)
    assert not dest.exists() and list(dest_dir.iterdir()) == []  # no partial, no final file
    good = hashlib.md5(src.read_bytes()).hexdigest()
    assert download(src.as_uri(), dest, good) == dest
    assert dest.read_bytes() == src.read_bytes() and list(dest_dir.iterdir()) == [dest]


def test_download_network_failure_is_retried_then_explained(tmp_path, monkeypatch):
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(1)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(irmas.urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(irmas.time, "sleep", lambda s: None)
    with pytest.raises(DataError, match="after 3 attempts.*data.irmas_dir"):
        download("https://zenodo.org/x.zip", tmp_path / "x.zip", "0" * 32)
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []


def test_extract_irmas_zip(tmp_path):
    dest = extract(_zip(tmp_path), tmp_path / "resources" / "IRMAS-TrainingData")
    assert (dest / "pia" / "[pia][cla]0001__1.wav").read_bytes() == b"RIFF..."
    assert [p.name for p in (tmp_path / "resources").iterdir()] == ["IRMAS-TrainingData"]
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad\.zip: not a valid zip file"):
        extract(bad, tmp_path / "other")
    assert not (tmp_path / "other").exists()


# --- scan and split ----------------------------------------------------------------------------


def _tone(seconds=3.0, sr=SR, freq=440.0):
    t = np.arange(int(round(seconds * sr))) / sr
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([left, 0.8 * left]).astype(np.float32)  # stereo as IRMAS (identical channels are written as mono)


@pytest.fixture
def irmas_dir(tmp_path):
    """A small IRMAS-TrainingData folder: 5 good clips each for cel and pia, and a voice folder."""
    root = tmp_path / "IRMAS-TrainingData"
    for code in ["cel", "pia", "voi"]:
        for i in range(5):
            drums = "[dru]" if i % 2 else ""
            audio.write(root / code / f"[{code}]{drums}[jaz_blu]{i + 1:04d}__1.wav", _tone(freq=200.0 + 50 * i), SR)
    return root


def _add_bad_clips(root):
    bad = {
        "corrupt": root / "cel" / "[cel][cla]0100__1.wav",
        "empty": root / "cel" / "[cel][cla]0101__1.wav",
        "silent": root / "pia" / "[pia][cla]0102__1.wav",
        "short": root / "pia" / "[pia][cla]0103__1.wav",
        "rate": root / "pia" / "[pia][cla]0104__1.wav",
    }
    bad["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEgarbage" * 10)
    bad["empty"].touch()
    audio.write(bad["silent"], np.zeros((2, 3 * SR), np.float32), SR)
    audio.write(bad["short"], _tone(seconds=2.0), SR)
    audio.write(bad["rate"], _tone(sr=22050), 22050)
    return bad


def test_scan_indexes_good_clips_with_tags(irmas_dir, tmp_path):
    clips, rejected = scan_clips(irmas_dir.parent, ["cel", "pia"], tmp_path / "clips.csv", tmp_path / "rej.csv")
    assert len(clips) == 10 and rejected.empty
    assert set(clips["instrument"]) == {"cel", "pia"}  # voice folder present but not configured: not indexed
    table = pd.read_csv(tmp_path / "clips.csv")
    assert list(table.columns) == ["path", "instrument", "genre", "drums", "duration", "sample_rate", "channels"]
    assert (table["genre"] == "jaz_blu").all() and table["drums"].fillna("").isin(["", "dru"]).all()
    assert (table["drums"] == "dru").sum() == 4
    assert (table["duration"] == 3.0).all() and (table["sample_rate"] == SR).all() and (table["channels"] == 2).all()
    assert all(Path(p).is_file() for p in table["path"])
    assert list(pd.read_csv(tmp_path / "rej.csv").columns) == ["path", "reason"]


def test_scan_skips_and_lists_bad_clips(irmas_dir, tmp_path):
    bad = _add_bad_clips(irmas_dir)
    clips, _ = scan_clips(irmas_dir, ["cel", "pia"], tmp_path / "clips.csv", tmp_path / "rej.csv", policy="skip")
    assert len(clips) == 10
    rejected = pd.read_csv(tmp_path / "rej.csv").set_index("path")["reason"]
    assert len(rejected) == 5
    expect = {
        "corrupt": "cannot decode",
        "empty": "empty file",
        "silent": "silent",
        "short": "length 2.000 s, expected 3 s",
        "rate": "sample rate 22050 Hz, expected 44100 Hz",
    }
    for kind, path in bad.items():
        assert expect[kind] in rejected[path.as_posix()], kind


@pytest.mark.parametrize("kind", ["corrupt", "empty", "silent", "short", "rate"])
def test_scan_policy_error_stops_naming_the_clip(irmas_dir, tmp_path, kind):
    bad = _add_bad_clips(irmas_dir)
    for other, path in bad.items():
        if other != kind:
            path.unlink()
    with pytest.raises(AudioError, match=re.escape(str(bad[kind])) + ".*bad_clip_policy is 'error'") as err:
        scan_clips(irmas_dir, ["cel", "pia"], tmp_path / "clips.csv", tmp_path / "rej.csv", policy="error")
    assert err.value.path == str(bad[kind])
    assert not (tmp_path / "clips.csv").exists() and not (tmp_path / "rej.csv").exists()


def test_scan_unknown_instrument_folder_is_an_error(irmas_dir, tmp_path):
    audio.write(irmas_dir / "banjo" / "x.wav", _tone(), SR)
    with pytest.raises(
        DataError, match=r"IRMAS-TrainingData/banjo: unknown instrument folder 'banjo'; known codes: cel, cla"
    ):
        scan_clips(irmas_dir, ["cel", "pia"], tmp_path / "clips.csv", tmp_path / "rej.csv")
    assert not (tmp_path / "clips.csv").exists()


def test_scan_missing_folder_or_instrument(irmas_dir, tmp_path):
    with pytest.raises(DataError, match="no folder for configured instrument.*flu"):
        scan_clips(irmas_dir, ["cel", "flu"], tmp_path / "c.csv", tmp_path / "r.csv")
    with pytest.raises(DataError, match=r"nowhere: dataset folder does not exist.*data.irmas_dir"):
        scan_clips(tmp_path / "nowhere", ["cel"], tmp_path / "c.csv", tmp_path / "r.csv")


def _clips_table(path, counts, excerpts=1):
    """``counts[c]`` clips of instrument c in IRMAS names, ``excerpts`` excerpts (__1, __2, ...) per recording."""
    rows = [
        {
            "path": f"d/{c}/[{c}][cla]{i // excerpts:04d}__{i % excerpts + 1}.wav",
            "instrument": c,
            "genre": "cla",
            "drums": None,
            "duration": 3.0,
            "sample_rate": SR,
            "channels": 2,
        }
        for c, n in counts.items()
        for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_split_is_stratified_seeded_three_way_and_grouped_by_recording(tmp_path):
    counts = {"cel": 388, "cla": 505, "pia": 721, "vio": 12, "flu": 9}
    _clips_table(tmp_path / "clips.csv", counts, excerpts=3)
    a = split_clips(tmp_path / "clips.csv", tmp_path / "a.csv", seed=0, val_fraction=0.2, test_fraction=0.2)
    per = a.groupby(["instrument", "split"]).size().unstack(fill_value=0)
    for code, n in counts.items():
        assert per.loc[code].sum() == n and (per.loc[code, ["train", "val", "test"]] > 0).all()
        for part in ("val", "test"):  # whole recordings of 3 excerpts: at most one recording over the target
            assert max(1, round(0.2 * n)) <= per.loc[code, part] < max(1, round(0.2 * n)) + 3
    assert (a.groupby("recording")["split"].nunique() == 1).all()  # no recording straddles two parts
    assert a["recording"].nunique() == sum((n + 2) // 3 for n in counts.values())
    split_clips(tmp_path / "clips.csv", tmp_path / "b.csv", seed=0, val_fraction=0.2, test_fraction=0.2)
    c = split_clips(tmp_path / "clips.csv", tmp_path / "c.csv", seed=1, val_fraction=0.2, test_fraction=0.2)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (a["split"] != c["split"]).sum() > 100
    assert list(read_index(tmp_path / "a.csv").columns)[-2:] == ["recording", "split"]
    assert set(read_index(tmp_path / "a.csv", split="test")["split"]) == {"test"}
    with pytest.raises(ValueError, match="data.val_fraction \\+ data.test_fraction must be < 1"):
        split_clips(tmp_path / "clips.csv", tmp_path / "d.csv", val_fraction=0.5, test_fraction=0.5)


def test_split_of_one_instrument_does_not_depend_on_the_others(tmp_path):
    _clips_table(tmp_path / "all.csv", {"cel": 50, "pia": 50})
    _clips_table(tmp_path / "one.csv", {"pia": 50})
    both = split_clips(tmp_path / "all.csv", tmp_path / "a.csv", seed=3)
    alone = split_clips(tmp_path / "one.csv", tmp_path / "b.csv", seed=3)
    assert list(both[both["instrument"] == "pia"]["split"]) == list(alone["split"])


def test_split_by_score_keeps_a_score_in_one_part_for_every_instrument(tmp_path):
    _clips_table(tmp_path / "clips.csv", {"cel": 30, "pia": 30, "vio": 30})
    by_score = split_clips(tmp_path / "clips.csv", tmp_path / "a.csv", seed=0, by_score=True)
    by_score["number"] = [parse_name(Path(p).name).number for p in by_score["path"]]
    assert (by_score.groupby("number")["split"].nunique() == 1).all()
    assert by_score.groupby(["instrument", "split"]).size().unstack().loc["pia"].to_dict() == {
        "test": 6,
        "val": 6,
        "train": 18,
    }
    per_instrument = split_clips(tmp_path / "clips.csv", tmp_path / "b.csv", seed=0)
    per_instrument["number"] = [parse_name(Path(p).name).number for p in per_instrument["path"]]
    assert (per_instrument.groupby("number")["split"].nunique() > 1).any()  # what by_score prevents
    pd.DataFrame(
        [
            {
                "path": "d/pia/take1.wav",
                "instrument": "pia",
                "genre": "cla",
                "drums": None,
                "duration": 3.0,
                "sample_rate": SR,
                "channels": 2,
            }
        ]
    ).to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(DataError, match=r"take1.wav is not named like an IRMAS clip.*data.source: embedded"):
        split_clips(tmp_path / "odd.csv", tmp_path / "c.csv", by_score=True)


def test_split_sets_the_held_out_soundfonts_clips_aside_before_the_deal(tmp_path):
    _clips_table(tmp_path / "clips.csv", {"cel": 30, "pia": 30})
    clips = pd.read_csv(tmp_path / "clips.csv")
    aside = {Path(p).name for p in clips["path"] if parse_name(Path(p).name).number > 25}
    assert len(aside) == 8  # 4 per instrument: 26 are dealt
    index = split_clips(tmp_path / "clips.csv", tmp_path / "a.csv", seed=0, by_score=True, heldout=aside)
    assert {Path(p).name for p in index.loc[index["split"] == "heldout", "path"]} == aside
    dealt = index[index["split"] != "heldout"]
    assert dealt.groupby(["instrument", "split"]).size().unstack().loc["pia"].to_dict() == {
        "test": 5,
        "val": 5,
        "train": 16,
    }
    assert read_index(tmp_path / "a.csv", split="heldout")["path"].map(lambda p: Path(p).name).isin(aside).all()
    with pytest.raises(DataError, match="not in the scanned clips"):
        split_clips(tmp_path / "clips.csv", tmp_path / "b.csv", by_score=True, heldout={"[pia][cla]9999__1.wav"})


def test_split_needs_three_recordings_per_instrument(tmp_path):
    _clips_table(tmp_path / "clips.csv", {"cel": 5, "pia": 2})
    with pytest.raises(DataError, match="clips.csv: instrument 'pia' has 2 recording\\(s\\); a train/val/test split"):
        split_clips(tmp_path / "clips.csv", tmp_path / "index.csv")
    assert not (tmp_path / "index.csv").exists()
    with pytest.raises(DataError, match=r"missing\.csv does not exist; run `snakemake -R .*missing\.csv` first"):
        read_index(tmp_path / "missing.csv")


# --- the rules, run by Snakemake ---------------------------------------------------------------

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def workflow_dir(tmp_path, config):
    """A working directory with the repo's workflow linked in and a config overlay."""
    link_workflow(tmp_path)
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def snakemake(workdir, *args, configfile="test.yaml"):
    cmd = [
        SNAKEMAKE,
        *args,
        "--cores",
        "1",
        "--workflow-profile",
        "none",
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / configfile),
    ]  # last: --configfile takes several values
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def planned_rules(workdir, *args, configfile="test.yaml"):
    """The rules a dry run would execute (`snakemake -n --quiet rules` prints a table)."""
    run = snakemake(workdir, *args, "-n", "--quiet", "rules", configfile=configfile)
    assert run.returncode == 0, run.stderr
    if "Nothing to be done" in run.stdout + run.stderr:
        return {}
    table = re.search(r"Job stats:\n(.*?)\n\n", run.stdout + run.stderr + "\n\n", re.S).group(1)
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if m[0] != "total"}


TINY = {"instruments": ["pia", "flu", "vio"], "data": {"clips_per_instrument": 4, "heldout_clips_per_instrument": 2}}


def test_data_rules_run_rerun_nothing_and_resplit_only(tmp_path):
    wd = workflow_dir(tmp_path, TINY)
    target = "results/data/index.csv"
    run = snakemake(wd, target)
    assert run.returncode == 0, run.stderr
    index = pd.read_csv(wd / target)
    assert len(index) == 18 and (index.groupby("instrument")["split"].apply(lambda s: (s == "val").sum()) == 1).all()
    rendered = pd.read_csv(wd / "results/data/embedded/render.csv")
    heldout = {Path(p).name for p in rendered.loc[rendered["soundfont"] == "MuseScore_General_Lite", "path"]}
    assert len(heldout) == 6 and heldout == {Path(p).name for p in index.loc[index["split"] == "heldout", "path"]}
    assert all((wd / p).is_file() for p in index["path"])
    assert (wd / "results/data/rejected.csv").is_file()
    for rule in ["render_embedded", "scan_clips", "split_clips"]:
        assert (wd / "logs/data" / f"{rule}.log").stat().st_size > 0
    assert planned_rules(wd, target) == {}

    (wd / "seed.yaml").write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "split_seed": 7}}))
    assert planned_rules(wd, target, configfile="seed.yaml") == {"split_clips": 1}
    (wd / "more.yaml").write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "clips_per_instrument": 5}}))
    assert planned_rules(wd, target, configfile="more.yaml") == {
        "render_embedded": 1,
        "scan_clips": 1,
        "split_clips": 1,
    }


def test_irmas_source_plans_download_or_uses_the_given_folder(tmp_path, irmas_dir):
    (tmp_path / "wd").mkdir()
    wd = workflow_dir(tmp_path / "wd", {"data": {"source": "irmas"}})
    target = "results/data/index.csv"
    assert planned_rules(wd, target) == {"download_irmas": 1, "extract_irmas": 1, "scan_clips": 1, "split_clips": 1}
    (wd / "local.yaml").write_text(
        yaml.safe_dump({"instruments": ["cel", "pia"], "data": {"source": "irmas", "irmas_dir": str(irmas_dir)}})
    )
    assert planned_rules(wd, target, configfile="local.yaml") == {"scan_clips": 1, "split_clips": 1}
    _add_bad_clips(irmas_dir)
    run = snakemake(wd, target, configfile="local.yaml")
    assert run.returncode == 0, run.stderr
    assert len(pd.read_csv(wd / target)) == 10 and len(pd.read_csv(wd / "results/data/rejected.csv")) == 5


def test_bad_clip_policy_error_fails_the_rule_naming_the_clip(tmp_path, irmas_dir):
    (tmp_path / "wd").mkdir()
    wd = workflow_dir(
        tmp_path / "wd",
        {
            "instruments": ["cel", "pia"],
            "data": {"source": "irmas", "irmas_dir": str(irmas_dir), "bad_clip_policy": "error"},
        },
    )
    (irmas_dir / "pia" / "[pia][cla]0009__1.wav").write_bytes(b"")
    run = snakemake(wd, "results/data/index.csv")
    assert run.returncode != 0
    assert "[pia][cla]0009__1.wav: empty file" in run.stderr
    assert not (wd / "results/data/clips.csv").exists()


def test_independent_check_set_plays_unseen_scores_with_each_instruments_own_patch(tmp_path):
    from difftone.classifiers.independent import FIRST_INDEX, render_check_set

    clips_csv = render_check_set(tmp_path / "check", "sf_GMbank", ["pia", "tru"], 2, sample_rate=22050)
    table = pd.read_csv(clips_csv)
    assert list(table["instrument"]) == ["pia", "pia", "tru", "tru"]
    for path in table["path"]:
        assert int(Path(path).stem) >= FIRST_INDEX and sf.info(path).samplerate == 22050
        midi_free = audio.load(path)[0]
        audio.check_silence(midi_free, 22050, path, silence_db=-60.0, max_silent_fraction=0.0)
    with pytest.raises(DataError, match="--soundfont"):
        render_check_set(tmp_path / "bad", str(tmp_path / "missing.sf2"), ["pia"], 1)


def test_parallel_render_writes_the_same_dataset(tmp_path, rendered):
    """workers=2 renders the clips in two processes: the same files, sample for sample, and the same manifest."""
    out, manifest = rendered
    render_embedded(tmp_path / "e", **RENDER, workers=2)
    # render.csv, not the fixture's manifest (other tests add columns to it)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "e" / "render.csv"), pd.read_csv(out / "render.csv"))
    for rel in manifest["path"]:
        np.testing.assert_array_equal(sf.read(tmp_path / "e" / rel)[0], sf.read(out / rel)[0])
