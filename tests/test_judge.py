"""The independent judge: MFCC logistic regression (JSON, no pickle) and CLAP zero-shot on the tiny stand-in."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from difftone.classifiers.judge import JudgeError, load_judge, load_mfcc_judge, mfcc_features, train_mfcc_judge

SR = 22050


def _tone(freq, harmonics, rng, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    f = freq * (1 + 0.02 * rng.normal())
    wave = sum(np.sin(2 * np.pi * f * k * t) / k ** (0.5 if harmonics else 3) for k in range(1, 8))
    return (0.3 * wave / np.abs(wave).max() + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def index_csv(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    rng = np.random.default_rng(0)
    rows = []
    for code, harmonics in (("pia", True), ("flu", False)):
        for i in range(12):
            path = root / f"{code}{i}.wav"
            sf.write(path, _tone(440 * 2 ** (rng.integers(-5, 5) / 12), harmonics, rng), SR)
            split = "train" if i < 8 else ("val" if i < 10 else "test")
            rows.append(
                {
                    "path": str(path),
                    "instrument": code,
                    "genre": "cla",
                    "drums": "",
                    "duration": 1.0,
                    "sample_rate": SR,
                    "channels": 1,
                    "recording": f"{code}{i}",
                    "split": split,
                }
            )
    pd.DataFrame(rows).to_csv(root / "index.csv", index=False)
    return root / "index.csv"


def test_mfcc_judge_trains_on_train_saves_json_and_predicts(index_csv, tmp_path):
    acc = train_mfcc_judge(index_csv, ["pia", "flu"], tmp_path / "judge.json", n_mfcc=13)
    assert acc["test"] == 1.0 and set(acc) == {"train", "val", "test"}  # bright vs dull tones: separable
    doc = json.loads((tmp_path / "judge.json").read_text())  # plain JSON, no pickle
    assert doc["kind"] == "mfcc_logreg" and np.shape(doc["coef"]) == (2, 52)
    judge = load_mfcc_judge(tmp_path / "judge.json")
    index = pd.read_csv(index_csv)
    test = index[index["split"] == "test"]
    assert [judge.predict_audio(sf.read(p, dtype="float32")[0], SR) for p in test["path"]] == list(test["instrument"])
    assert mfcc_features(np.zeros(SR, np.float32) + 0.1, SR, n_mfcc=13).shape == (52,)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(JudgeError, match="bad.json is not an MFCC judge file"):
        load_mfcc_judge(tmp_path / "bad.json")
    with pytest.raises(JudgeError, match="needs its trained file"):
        load_judge({"kind": "mfcc_logreg"})


def test_clap_zero_shot_judge_reads_text_prompts_of_each_instrument():
    judge = load_judge(
        {"kind": "clap_zero_shot", "tokenizer": "tiny", "prompt_template": "the sound of a {name}"},
        clap={"checkpoint": "tiny", "window_s": 1.0, "hop_s": 1.0},
        instruments=["pia", "vio", "gac"],
    )
    assert judge.prompts == ["the sound of a piano", "the sound of a violin", "the sound of a acoustic guitar"]
    assert judge.text.shape[0] == 3 and np.allclose(np.linalg.norm(judge.text, axis=1), 1)
    assert len(set(map(tuple, judge.text.round(6)))) == 3  # different prompts, different text embeddings
    rng = np.random.default_rng(1)
    assert judge.predict_audio(_tone(440, True, rng), SR) in {"pia", "vio", "gac"}
    with pytest.raises(JudgeError, match="must contain \\{name\\}"):
        load_judge(
            {"kind": "clap_zero_shot", "tokenizer": "tiny", "prompt_template": "music"},
            clap={"checkpoint": "tiny", "window_s": 1.0},
            instruments=["pia"],
        )


def test_clap_zero_shot_judge_reads_a_tokenizer_folder_in_the_roberta_base_layout(tmp_path):
    from difftone.rehearsal import write_roberta_tokenizer

    folder = tmp_path / "clap_tokenizer"  # what fetch_models copies from FacebookAI/roberta-base
    folder.mkdir()
    write_roberta_tokenizer(folder)
    assert {p.name for p in folder.iterdir()} == {"config.json", "tokenizer.json", "vocab.json", "merges.txt"}
    clap = {"checkpoint": "tiny", "window_s": 1.0, "hop_s": 1.0}
    judge = load_judge(
        {"kind": "clap_zero_shot", "tokenizer": str(folder)}, clap=clap, instruments=["pia", "vio", "gac"]
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(judge.prompts, padding=True)["input_ids"]
    assert type(tok).__name__.startswith("Roberta") and tok.pad_token_id == 1  # RoBERTa's ids, as LAION-CLAP's
    assert all(row[0] == 0 and 0 <= max(row) < 128 for row in ids)  # fit the tiny CLAP's text vocabulary
    assert tok.unk_token_id not in ids[0]
    assert len(set(map(tuple, judge.text.round(6)))) == 3
    with pytest.raises(JudgeError, match=r"judge.tokenizer .*missing.* cannot be loaded.*fetch_models"):
        load_judge({"kind": "clap_zero_shot", "tokenizer": str(tmp_path / "missing")}, clap=clap, instruments=["pia"])


def test_clap_zero_shot_judge_opens_laions_pickle_format_with_the_pinned_hash(tmp_path):
    """As the workflow calls it (judge.checkpoint filled with metrics.clap.checkpoint): metrics.clap.sha256
    applies; the judge's own judge.sha256 applies to its own checkpoint; a wrong pin stops the judge."""
    from difftone.metrics.clap import ClapCheckpointError, build_tiny_clap, file_sha256
    from difftone.rehearsal import write_clap_checkpoint

    pt = str(write_clap_checkpoint(tmp_path / "music_audioset_epoch_15_esc_90.14.pt", "tiny"))
    sha = file_sha256(pt)
    clap = {
        "checkpoint": pt,
        "sha256": sha,
        "architecture": "tiny",
        "cache_dir": str(tmp_path / "cache"),
        "window_s": 1.0,
        "hop_s": 1.0,
    }
    judge = load_judge(
        {"kind": "clap_zero_shot", "tokenizer": "tiny", "checkpoint": pt}, clap=clap, instruments=["pia", "vio"]
    )
    reference = load_judge(
        {"kind": "clap_zero_shot", "tokenizer": "tiny"},
        clap={"checkpoint": "tiny", "window_s": 1.0},
        instruments=["pia", "vio"],
    )
    assert np.allclose(judge.text, reference.text, atol=1e-6)  # the stand-in holds build_tiny_clap(seed=0)
    assert build_tiny_clap(seed=0).config.projection_dim == judge.text.shape[1]
    other = {**clap, "checkpoint": "tiny", "sha256": "0" * 64}  # the judge's own checkpoint, its own pin
    load_judge(
        {"kind": "clap_zero_shot", "tokenizer": "tiny", "checkpoint": pt, "sha256": sha},
        clap=other,
        instruments=["pia"],
    )
    with pytest.raises(ClapCheckpointError, match="judge.sha256"):
        load_judge(
            {"kind": "clap_zero_shot", "tokenizer": "tiny", "checkpoint": pt, "sha256": "1" * 64},
            clap=clap,
            instruments=["pia"],
        )
