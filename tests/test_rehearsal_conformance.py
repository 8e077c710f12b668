"""The rehearsal's stand-ins against the real components' published structure (docs/cluster.md, "What the
rehearsal proves"): the IRMAS archive's folder and file naming and its md5 rule; the SAO builder's snapshot
against the published configs and tokenizer files. The OpenAI answer format is checked in tests/test_prompts.py,
MERT's remote code in tests/test_mert_remote.py, the LAION-CLAP file in tests/test_metrics.py."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
import torch

from difftone.data.errors import DataError
from difftone.data.index import scan_clips, split_clips
from difftone.data.irmas import IRMAS_FOLDER, download, extract, md5sum, parse_name
from difftone.models.audioldm2 import real_size_t5_tokenizer
from difftone.rehearsal import SAO_CONFIGS, build_random_sao, write_irmas_zip

# design notes, section 3: IRMAS-TrainingData/<code>/[inst][genre]NNNN__K.wav, a drum tag [dru]/[nod] may
# precede the genre, some names carry a numeric prefix (008__[cel][nod][cla]0058__1.wav); 11 class folders
IRMAS_CODES = ["cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi"]
REAL_NAME = re.compile(
    r"(\d{3}__)?\[(?P<inst>[a-z]{3})\](\[(dru|nod)\])?\[(cla|cou_fol|jaz_blu|lat_sou|pop_roc)\]"
    r"(?P<number>\d{4})__(?P<excerpt>\d+)\.wav"
)


@pytest.fixture(scope="module")
def irmas_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("standin")
    return write_irmas_zip(out, ["pia", "vio"], 8)


def test_irmas_stand_in_has_the_real_archive_layout_and_names(irmas_zip):
    with zipfile.ZipFile(irmas_zip) as zf:
        names = zf.namelist()
        info = {n: zf.getinfo(n) for n in names}
    assert all(n.startswith(f"{IRMAS_FOLDER}/") for n in names)  # one top folder, as the real archive
    folders = sorted({n.split("/")[1] for n in names if n.count("/") >= 2})
    assert folders == IRMAS_CODES  # all 11 classes, voice included
    wavs = [n for n in names if not info[n].is_dir()]
    assert all(n.count("/") == 2 for n in wavs)
    tags = {"drums": set(), "prefix": False}
    recordings = {}
    for n in wavs:
        code, fname = n.split("/")[1:]
        m = REAL_NAME.fullmatch(fname)
        assert m, f"{n} does not follow IRMAS's naming"
        assert m["inst"] == code
        parsed = parse_name(fname)  # the project's own parser agrees
        assert parsed is not None and parsed.instrument == code and parsed.excerpt == int(m["excerpt"])
        tags["drums"].add(parsed.drums)
        tags["prefix"] |= parsed.prefix is not None
        recordings.setdefault((code, parsed.recording), []).append(parsed.excerpt)
    assert tags["drums"] == {None, "dru", "nod"} and tags["prefix"]  # every variant of the pattern occurs
    per_instrument = {c: [r for (code, r) in recordings if code == c] for c in ("pia", "vio")}
    assert all(len(r) == 4 for r in per_instrument.values())  # 8 clips = 4 recordings of 2 excerpts
    assert all(sorted(e) == [1, 2] for (code, _), e in recordings.items() if code in ("pia", "vio"))
    with zipfile.ZipFile(irmas_zip) as zf, zf.open(wavs[0]) as f:
        i = sf.info(f)
    assert (i.samplerate, i.channels, i.frames, i.subtype) == (44100, 2, 3 * 44100, "PCM_16")


def test_irmas_stand_in_goes_through_the_md5_rule_extraction_scan_and_split(irmas_zip, tmp_path):
    md5 = md5sum(irmas_zip)
    dest = download(irmas_zip.as_uri(), tmp_path / "resources" / "IRMAS-TrainingData.zip", md5)
    assert md5sum(dest) == md5
    with pytest.raises(DataError, match="checksum mismatch"):
        download(irmas_zip.as_uri(), tmp_path / "other.zip", "0" * 32)
    assert not (tmp_path / "other.zip").exists()
    root = extract(dest, tmp_path / "resources" / IRMAS_FOLDER)
    assert sorted(p.name for p in root.iterdir()) == IRMAS_CODES
    clips, rejected = scan_clips(root, ["pia", "vio"], tmp_path / "clips.csv", tmp_path / "rejected.csv")
    assert len(clips) == 16 and rejected.empty and set(clips["instrument"]) == {"pia", "vio"}
    index = split_clips(tmp_path / "clips.csv", tmp_path / "index.csv", seed=0, val_fraction=0.2, test_fraction=0.2)
    index["recording"] = [parse_name(Path(p).name).recording for p in index["path"]]
    assert (index.groupby("recording")["split"].nunique() == 1).all()  # excerpts of a recording stay together
    assert set(index["split"]) == {"train", "val", "test"}


def test_sao_tokenizer_has_t5_base_ids_and_takes_the_published_tokenizer_files(tmp_path):
    from transformers import AutoTokenizer

    real_size_t5_tokenizer().save_pretrained(tmp_path)  # what build_random_sao writes
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(SAO_CONFIGS / "tokenizer" / name, tmp_path / name)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert len(tok) == 32100 and tok.model_max_length == 128
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    published = json.loads((SAO_CONFIGS / "tokenizer" / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    assert all(tok.convert_ids_to_tokens(int(i)) == t["content"] for i, t in published.items())
    ids = tok("A gentle solo Piano melody, with violin!").input_ids
    assert tok.unk_token_id not in ids and ids[-1] == 1 and max(ids) < 32000


def test_random_sao_builder_writes_the_published_layout(tmp_path):
    """build_random_sao on the published configs narrowed (1 DiT layer, 1 T5 layer, narrow VAE): the same files,
    the published configs' keys and values (but the narrowed ones), weights stored float16, loaded by load_sao."""
    from difftone.models import load_sao

    configs = tmp_path / "configs"
    shutil.copytree(SAO_CONFIGS, configs)
    narrowed = {
        "transformer": {"num_layers": 1},
        "text_encoder": {"num_layers": 1, "d_ff": 64},
        "vae": {"encoder_hidden_size": 8, "decoder_channels": 8},
    }
    for name, change in narrowed.items():
        path = configs / name / "config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | change))
    out = build_random_sao(tmp_path / "sao", configs)
    published = sorted(p.relative_to(configs).as_posix() for p in configs.rglob("*.json"))
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert set(written) - set(published) == {"tokenizer/tokenizer.json"}
    assert all((out / p).read_bytes() == (configs / p).read_bytes() for p in published)  # the real files
    for name in ("transformer", "vae", "text_encoder", "projection_model"):
        assert any((out / name).glob("*.safetensors")), name
    from safetensors import safe_open

    with safe_open(str(next((out / "transformer").glob("*.safetensors"))), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    loaded = load_sao(str(out))
    assert type(loaded.tokenizer).__name__ in ("T5Tokenizer", "T5TokenizerFast") and len(loaded.tokenizer) == 32100
    assert loaded.transformer.config.num_attention_heads == 24 and loaded.latent_channels == 64
