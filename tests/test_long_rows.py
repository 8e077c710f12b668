"""Table IV's rows on long recordings (difftone.experiment.real_audio.edit_long): each instrument's clips joined
into one file, edited whole and on its middle clip only, in the layout the scoring and the table read."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from difftone.engine import EditOptions
from difftone.experiment.items import ExperimentError
from difftone.experiment.real_audio import edit_long
from difftone.experiment.table4 import long_instruments, long_rows, table4_rows

STEPS = 4
CLIP_SECONDS = 2.0  # three clips: 6 s, three windows of the demo model's 3.02 s (the passage: one)
REAL_AUDIO = {
    "peak": 0.5,
    "silence_db": -60.0,
    "max_silent_fraction": 0.9,
    "max_seconds": 600,
    "seed": 0,
    "source_prompt": "A recording of {instrument}",
    "passage_fade": 0.1,
    "window_overlap": 6.0,
    "batch_windows": 4,
    "window_step_rule": "median",
    "long": {"clips": 3},
}


torch.set_num_threads(1)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """An untrained latent classifier of the demo model's latents, saved as the workflow's are."""
    from difftone.classifiers import tiny_latent_classifier
    from difftone.classifiers.checkpoint import save_checkpoint
    from difftone.models import load_backbone

    model = tiny_latent_classifier(load_backbone("demo").latent_channels, ["pia", "vio"])
    folder = tmp_path_factory.mktemp("classifier") / "distilled"
    save_checkpoint(model, "latent_classifier", model.checkpoint_config(), folder)
    return folder


def _clips(folder, code: str, pitch: float) -> list[str]:
    paths = []
    for i in range(3):
        t = np.arange(int(CLIP_SECONDS * 44100)) / 44100
        wave = 0.3 * np.sin(2 * np.pi * pitch * (i + 1) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
        path = folder / f"{code}-{i}.wav"
        sf.write(path, wave, 44100, subtype="PCM_16")
        paths.append(str(path))
    return paths


def test_rows_are_labelled_by_kind_and_name_only_rows_of_the_table():
    rows = table4_rows(
        ["difftone", "midpoint"], 30, 3.0, 1.5, {"edit_from": 0.5, "source_guidance": 3.0, "target_guidance": 12.0}
    )
    long = long_rows(rows, {"clips": 3, "strategies": ["difftone", "zeta"], "passage": ["difftone"]})
    assert [r["method"] for r in long.values()] == ["difftone (long)", "zeta (fixed:15) (long)", "difftone (passage)"]
    assert list(long) == ["long-difftone", "long-zeta", "passage-difftone"]
    assert long["long-zeta"]["target_guidance"] == 12.0 and long["long-zeta"]["strategy"] == "fixed:15"
    assert {r["group"] for r in long.values()} == {"long"} and {r["group"] for r in rows.values()} == {"clips"}
    assert long_rows(rows, {"enabled": False, "strategies": ["difftone"]}) == {}
    with pytest.raises(ValueError, match="real_audio.long.passage: 'probe' is not a row"):
        long_rows(rows, {"strategies": [], "passage": ["probe"]})


def test_long_and_passage_rows_write_the_tables_layout_and_the_passage_keeps_the_rest_bit_for_bit(
    tmp_path, classifier_dir
):
    recordings = pd.DataFrame(
        [(c, p) for c, pitch in (("pia", 220.0), ("vio", 330.0)) for p in _clips(tmp_path, c, pitch)],
        columns=["instrument", "path"],
    )
    zeta = {"edit_from": 0.5, "source_guidance": 3.0, "target_guidance": 12.0}
    rows = long_rows(
        table4_rows(["difftone"], STEPS, 3.0, 1.5, zeta), {"strategies": ["difftone", "zeta"], "passage": ["difftone"]}
    )
    options = {slug: EditOptions() for slug in rows}
    swaps = edit_long(
        recordings,
        rows,
        tmp_path / "sources",
        tmp_path / "edits",
        model="demo",
        classifier=classifier_dir,
        real_audio=REAL_AUDIO,
        options=options,
        steps=STEPS,
    )
    assert set(swaps) == {"long-difftone", "long-zeta", "passage-difftone"}
    total = int(3 * CLIP_SECONDS * 44100)
    for slug in rows:
        sources = tmp_path / "sources" / slug
        split = pd.read_csv(sources / "split.csv")
        assert sorted(split["item"]) == ["pia-long", "vio-long"] and (split["part"] == "test").all()
        items = pd.read_csv(sources / "pia" / "items.csv", keep_default_na=False)
        assert items["recording"].iloc[0].count(" + ") == 2  # three clips joined
        joined, sr = sf.read(sources / "pia" / "pia-long" / "input.wav", dtype="float64")
        assert sr == 44100 and len(joined) == total
        assert sf.info(str(sources / "pia" / "pia-long" / "source.wav")).frames == total
        info = json.loads((sources / "pia" / "pia-long" / "edit.json").read_text())
        pair = pd.read_csv(tmp_path / "edits" / slug / "pia_to_vio" / "swaps.csv", keep_default_na=False)
        assert pair["item"].tolist() == ["pia-long"] and pair["audio"].tolist() == ["pia-long.wav"]
        edit, sr = sf.read(tmp_path / "edits" / slug / "pia_to_vio" / "pia-long.wav", dtype="float64")
        assert sr == 44100 and len(edit) == total
        nfe = json.loads((tmp_path / "edits" / slug / "nfe.json").read_text())
        assert nfe["edits"] == 2 and nfe["sources"] == 2 and nfe["nfe"] > 0
        assert nfe["nfe"] == swaps[slug]["nfe"].sum()  # the edits' NFE: the inversion's is not counted
        # zeta's row inverts the same windows at the same source guidance as difftone's: it shares that inversion
        assert info["inversion_shared"] == (slug == "long-zeta") and info["nfe_inversion"] > 0
        if rows[slug]["kind"] == "long":
            assert len(info["windows"]) == 3 and info["passage"] is None
        else:  # the middle clip [2, 4) s, fades of 0.1 s: the input's samples outside [1.9, 4.1) s
            lo, hi = int(round(1.9 * 44100)), int(round(4.1 * 44100))
            assert len(info["windows"]) == 1 and items["passage"].iloc[0] == "2-4"  # only the windows around it
            assert np.array_equal(edit[:lo], joined[:lo]) and np.array_equal(edit[hi:], joined[hi:])
            inside = slice(int(2 * 44100), int(4 * 44100))
            assert not np.allclose(edit[inside], joined[inside], atol=1e-3)


def test_too_few_clips_stops_naming_the_key(tmp_path, classifier_dir):
    recordings = pd.DataFrame([("pia", p) for p in _clips(tmp_path, "pia", 220.0)[:2]], columns=["instrument", "path"])
    rows = long_rows(table4_rows(["difftone"], STEPS, 3.0, 1.5, None), {"strategies": ["difftone"]})
    with pytest.raises(ExperimentError, match="real_audio.long.clips is 3 but pia has fewer"):
        edit_long(
            recordings,
            rows,
            tmp_path / "s",
            tmp_path / "e",
            model="demo",
            classifier=classifier_dir,
            real_audio=REAL_AUDIO,
            options={"long-difftone": EditOptions()},
            steps=STEPS,
        )


def test_long_instruments_are_a_subset_in_the_configs_order_and_an_unknown_code_names_the_key():
    instruments = ["pia", "vio", "flu", "gac"]
    assert long_instruments({"instruments": None}, instruments) == instruments
    assert long_instruments({}, instruments) == instruments
    assert long_instruments({"instruments": ["gac", "pia"]}, instruments) == ["pia", "gac"]
    # a known code outside `instruments` is skipped: a config narrowing `instruments` keeps its long rows
    assert long_instruments({"instruments": ["pia", "cel"]}, instruments) == ["pia"]
    with pytest.raises(ValueError, match=r"real_audio.long.instruments: 'piano' is no instrument code"):
        long_instruments({"instruments": ["pia", "piano"]}, instruments)
    with pytest.raises(ValueError, match=r"real_audio.long.instruments \(cel\) names none of `instruments`"):
        long_instruments({"instruments": ["cel"]}, instruments)


def test_some_sources_are_edited_into_every_target(tmp_path, classifier_dir):
    """The recordings of one source instrument, edited into every other target (``targets``), and only those."""
    recordings = pd.DataFrame([("pia", p) for p in _clips(tmp_path, "pia", 220.0)], columns=["instrument", "path"])
    rows = long_rows(table4_rows(["difftone"], STEPS, 3.0, 1.5, None), {"strategies": [], "passage": ["difftone"]})
    swaps = edit_long(
        recordings,
        rows,
        tmp_path / "sources",
        tmp_path / "edits",
        model="demo",
        classifier=classifier_dir,
        real_audio=REAL_AUDIO,
        options={"passage-difftone": EditOptions()},
        steps=STEPS,
        targets=["pia", "vio", "flu"],
    )["passage-difftone"]
    assert sorted(zip(swaps["source"], swaps["target"])) == [("pia", "flu"), ("pia", "vio")]
    edits = tmp_path / "edits" / "passage-difftone"
    assert sorted(p.name for p in edits.iterdir() if p.is_dir()) == ["pia_to_flu", "pia_to_vio"]
    for pair in ["pia_to_flu", "pia_to_vio"]:
        table = pd.read_csv(edits / pair / "swaps.csv", keep_default_na=False)
        assert table["audio"].tolist() == ["pia-long.wav"] and (edits / pair / "pia-long.wav").is_file()
    assert json.loads((edits / "nfe.json").read_text())["edits"] == 2
    sources = tmp_path / "sources" / "passage-difftone"
    assert pd.read_csv(sources / "split.csv")["item"].tolist() == ["pia-long"]
    assert not (sources / "vio").exists() and not (sources / "flu").exists()


def _dry_run_jobs(text: str, rule: str) -> list[dict[str, str]]:
    """The jobs of ``rule`` in a dry run's output: each job's fields (input, output, wildcards, ...)."""
    jobs, job = [], None
    for line in text.splitlines():
        if line.startswith(("rule ", "localrule ", "[")):  # a job's first line, or the timestamp before it
            job = {} if line.split(" ", 1)[-1] == f"{rule}:" else None
            if job is not None:
                jobs.append(job)
        elif job is not None and ": " in line:
            key, value = line.strip().split(": ", 1)
            job[key] = value
    return jobs


def test_the_plan_edits_and_scores_only_the_long_instruments_pairs(tmp_path):
    """A dry run of Table IV with real_audio.long.instruments a subset: the long job makes, and each long row
    scores, the pairs from those sources into every other instrument; the one-clip rows keep every pair."""
    import yaml
    from workflow_runner import Workflow, merge

    instruments = ["pia", "vio", "flu", "gac"]
    wf = Workflow(tmp_path, {"instruments": instruments, "real_audio": {"long": {"instruments": ["gac", "vio"]}}})
    res = wf.snakemake("-n", "results/tables/table4_real_audio.csv")
    assert res.returncode == 0, res.stderr[-4000:]
    text = res.stdout + res.stderr

    def pairs_of(files: str, row: str) -> set[tuple[str, str]]:
        stem = f"results/real_audio/edits/{row}/"
        return {
            tuple(f[len(stem) :].split("/")[0].split("_to_"))
            for f in files.split(", ")
            if f.startswith(stem) and f.endswith("/swaps.csv")
        }

    subset = {(s, t) for s in ["vio", "gac"] for t in instruments if s != t}
    every = {(s, t) for s in instruments for t in instruments if s != t}
    (long_job,) = _dry_run_jobs(text, "edit_long_recordings")
    scored = {job["wildcards"].split("=")[1]: job["input"] for job in _dry_run_jobs(text, "score_recordings")}
    assert set(scored) == {"difftone", "zeta", "long-difftone", "long-zeta", "passage-difftone"}
    for row in ["long-difftone", "long-zeta", "passage-difftone"]:
        assert pairs_of(long_job["output"], row) == subset and pairs_of(scored[row], row) == subset
    assert pairs_of(scored["difftone"], "difftone") == every

    bad = merge(wf.config, {"real_audio": {"long": {"instruments": ["pia", "viola"]}}})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    res = wf.snakemake("-n", "results/tables/table4_real_audio.csv", config="bad.yaml")
    assert (
        res.returncode != 0 and "real_audio.long.instruments: 'viola' is no instrument code" in res.stdout + res.stderr
    )
