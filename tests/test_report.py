"""The report stage: Figure 2 with the tiny model (swap at N is the source, at 0 a regeneration from
the target prompt), the page on small synthetic inputs (valid HTML, tables, links that exist,
audio players), the example pairs and swap steps, and bad inputs."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from difftone import audio
from difftone.config import ConfigError, validate_config
from difftone.engine import Editor, Trajectory
from difftone.experiment.items import SOURCE_COLUMNS, SWAP_COLUMNS, ExperimentError
from difftone.experiment.swap_steps import MANIFEST, MANIFEST_COLUMNS, edit_swap_steps
from difftone.report import example_pairs, git_commit, local_links, plot_swap_steps, swap_steps_of, write_report
from difftone.report.listening import listening_files, listening_layout
from difftone.report.page import LISTEN_RMS_DB

SR = 8000
VOID = {"meta", "img", "br", "hr", "input", "link", "source", "col", "area", "base", "wbr"}


class StrictParser(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def parse(text: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed elements {parser.stack}"
    return parser


# -- Figure 2 with the tiny model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory, tiny_components, tiny_classifier_dir):
    from difftone.experiment.sources import generate_sources

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fig2")
    components = tiny_components
    dirs = {}
    for code, prompt in [("pia", "A soft piano melody"), ("vio", "A bright violin tune")]:
        (root / f"{code}.txt").write_text(prompt + "\n")
        dirs[code] = root / "sources" / code
        generate_sources(
            root / f"{code}.txt",
            code,
            dirs[code],
            model="tiny",
            classifier=tiny_classifier_dir,
            seeds=[3],
            steps=6,
            duration=0.5,
            guidance_scale=4.0,
        )
    return root, dirs, components


def test_figure2_writes_the_figure_and_audio_swap_at_n_is_the_source(tiny_sources):
    root, dirs, components = tiny_sources
    figure, audio_dir = root / "figures" / "swap_steps.png", root / "report" / "audio" / "swap_steps"
    manifest = edit_swap_steps(
        dirs, [("pia", "vio"), ("vio", "pia")], audio_dir, model=components, fractions=[0.0, 0.5, 1.0]
    )
    assert not figure.exists()  # the experiment stage writes audio only; the report stage draws
    assert plot_swap_steps(audio_dir, figure).equals(pd.read_csv(audio_dir / MANIFEST, keep_default_na=False))
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = pd.read_csv(audio_dir / MANIFEST, keep_default_na=False)
    assert list(on_disk.columns) == MANIFEST_COLUMNS and len(on_disk) == len(manifest) == 2 * 4
    pia = on_disk[on_disk["source"] == "pia"]
    assert pia["kind"].tolist() == ["source", "swap", "swap", "swap"]
    assert pia["swap_step"].tolist() == ["", "0", "3", "6"]
    assert (pia["target_prompt"] == "A soft violin melody").all()
    kept = json.loads(pia["trace"].iloc[0])  # the whole trace, for the report's plot_trace
    assert len(kept["probs"]) == 6 and len(kept["sigmas"]) == 6 and len(kept["probs"][0]) == len(kept["instruments"])
    traj = Trajectory.load(dirs["pia"] / "pia-p000-s3" / "trajectory")
    assert [float(s) for s in pia["sigma"].tolist()[1:]] == pytest.approx([traj.sigmas[0], traj.sigmas[3], 0.0])

    def wave(name):
        return audio.load(audio_dir / "pia_to_vio" / name)[0]

    source = wave("source.wav")
    np.testing.assert_array_equal(source, audio.load(dirs["pia"] / "pia-p000-s3" / "source.wav")[0])
    np.testing.assert_array_equal(wave("step_006.wav"), source)  # a swap at N changes nothing
    # a swap at 0 changes the audio (far beyond 16-bit rounding; the tiny model is weakly prompt-driven)
    assert np.abs(wave("step_000.wav") - source).max() > 1e-3
    # a swap at step 0 is the target prompt's generation from the source's seed
    scratch = Editor(components, progress=False).sample(["A soft violin melody"], [3], 6, 0.5, 4.0)[0]
    np.testing.assert_allclose(wave("step_000.wav"), scratch.numpy(), atol=2 / 32768)
    assert not [p for p in audio_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_figure2_of_a_missing_source_folder_names_it(tiny_sources, tmp_path):
    _, _, components = tiny_sources
    with pytest.raises(ExperimentError, match="flu/items.csv does not exist"):
        edit_swap_steps({"flu": tmp_path / "flu"}, [("flu", "pia")], tmp_path / "a", model=components, fractions=[0.5])
    assert not (tmp_path / "a").exists()
    with pytest.raises(ExperimentError, match=r"a/swap_steps.csv does not exist; run the Figure 2 \(edit_swap_steps\)"):
        plot_swap_steps(tmp_path / "a", tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


# -- the page on synthetic inputs --------------------------------------------------------------------
def tone(freq: float, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t))[None].astype(np.float32)


def png(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.eye(4))
    return path


@pytest.fixture
def results(tmp_path):
    """A results/ folder with tables, two source items, edits of two strategies, Figure 2's audio."""
    r = tmp_path / "results"
    (r / "tables").mkdir(parents=True)
    pd.DataFrame(
        {
            "classifier": ["teacher", "distilled"],
            "eval_set": ["irmas_test", "generated"],
            "accuracy": [0.72, 0.5],
            "ci_low": [0.65, 0.4],
            "ci_high": [0.79, 0.6],
            "n": [100, 8],
        }
    ).to_csv(r / "tables" / "table1_classifiers.csv", index=False)
    t2 = {"method": ["difftone", "fixed:2"], "edits": [8, 8], "judge_acc": [0.5, 0.25]}
    for m, v in [("chroma", 0.31), ("kad", 1.5), ("inst_acc", 0.625)]:
        t2 |= {m: [v, v + 0.1], f"{m}_low": [v - 0.05, v], f"{m}_high": [v + 0.05, v + 0.2]}
    pd.DataFrame(t2).to_csv(r / "tables" / "table2_strategies.csv", index=False)
    pd.DataFrame(
        {
            "strategy": ["difftone", "difftone"],
            "source": ["pia", "vio"],
            "target": ["vio", "pia"],
            "n": [4, 4],
            "chroma": [0.3, 0.2],
            "kad": [1.0, float("nan")],
            "inst_acc": [0.5, 0.75],
        }
    ).to_csv(r / "tables" / "per_pair.csv", index=False)
    sources = {}
    for code, prompt, f in [("pia", "A soft piano melody", 220.0), ("vio", "A bright violin tune", 440.0)]:
        d = sources[code] = r / "sources" / code
        item = f"{code}-p000-s0"
        audio.write(d / item / "source.wav", tone(f), SR)
        pd.DataFrame(
            [
                {
                    "item": item,
                    "instrument": code,
                    "prompt_index": 0,
                    "seed": 0,
                    "prompt": prompt,
                    "audio": f"{item}/source.wav",
                    "trajectory": f"{item}/trajectory",
                    "top1_final": code,
                }
            ],
            columns=SOURCE_COLUMNS,
        ).to_csv(d / "items.csv", index=False)
    for slug, step, reason in [("difftone", 4, "last change of top-1"), ("fixed-2", 2, "fixed")]:
        for s, t in [("pia", "vio"), ("vio", "pia")]:
            d = r / "edits" / slug / f"{s}_to_{t}"
            skipped = slug == "difftone" and s == "vio"
            d.mkdir(parents=True, exist_ok=True)
            if not skipped:
                audio.write(d / f"{s}-p000-s0.wav", tone(330.0), SR)
            pd.DataFrame(
                [
                    {
                        "item": f"{s}-p000-s0",
                        "prompt_index": 0,
                        "seed": 0,
                        "source_prompt": "x",
                        "target_prompt": f"a {t} edit",
                        "swap_step": "" if skipped else step,
                        "sigma": 1.0,
                        "reason": "no change: skip" if skipped else reason,
                        "audio": "" if skipped else f"{s}-p000-s0.wav",
                        "nfe": 2,
                        "trace": "[]",
                    }
                ],
                columns=SWAP_COLUMNS,
            ).to_csv(d / "swaps.csv", index=False)
    fig2 = r / "report" / "audio" / "swap_steps"
    rows = []
    for s, t in [("pia", "vio"), ("vio", "pia")]:
        for kind, k in [("source", ""), ("swap", 0), ("swap", 6)]:
            name = "source.wav" if kind == "source" else f"step_{k:03d}.wav"
            audio.write(fig2 / f"{s}_to_{t}" / name, tone(200.0 + 10 * len(rows)), SR)
            rows.append(
                {
                    "source": s,
                    "target": t,
                    "item": f"{s}-p000-s0",
                    "kind": kind,
                    "prompt": "p",
                    "target_prompt": "q",
                    "swap_step": k,
                    "steps": 6,
                    "sigma": 0.5 if k == "" else 80.0,
                    "audio": f"{s}_to_{t}/{name}",
                    "trace": FIG2_TRACE if s == "pia" else '["pia", "vio"]',
                }
            )
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(fig2 / MANIFEST, index=False)
    return {
        "table1": r / "tables" / "table1_classifiers.csv",
        "table2": r / "tables" / "table2_strategies.csv",
        "per_pair": r / "tables" / "per_pair.csv",
        "swap_steps_audio": fig2,
        "swap_steps_figure": png(r / "figures" / "swap_steps.png"),
        "sources_dirs": sources,
        "swaps_csvs": sorted((r / "edits").glob("*/*/swaps.csv")),
        "strategies": ["difftone", "fixed:2"],
        "examples": [("pia", "vio"), ("vio", "pia")],
        "confusion_figures": [
            png(r / "classifiers" / "figures" / f"confusion_{n}.png") for n in ["teacher", "distilled"]
        ],
        "loss_figure": png(r / "demo" / "loss.png"),
        "config": {
            "instruments": ["pia", "vio"],
            "model": {"spec": "tiny", "steps": 6, "dtype": "float32"},
            "edits": {"strategies": ["difftone", "fixed:2"]},
            "generation": {"seeds": [0]},
        },
        "model_spec": "tiny",
    }


# a source's trace as the Figure 2 manifest keeps it: the top-1 moves flu -> pia at step 2 of 4
FIG2_TRACE = json.dumps(
    {
        "instruments": ["flu", "pia", "vio"],
        "top1": ["flu", "flu", "pia", "pia"],
        "probs": [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]],
        "sigmas": [80.0, 5.0, 0.5, 0.05, 0.0],
    }
)


def test_plot_trace_draws_a_line_per_instrument_labels_the_top_ones_and_marks_the_swap():
    from difftone.report.trace_plot import plot_trace

    fig = plot_trace(json.loads(FIG2_TRACE), None, 2, "last top-1 change at step 2 (flu -> pia)", top=2)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
    assert len(lines) == 3  # one per instrument
    np.testing.assert_allclose(sorted(line.get_ydata()[2] for line in lines), [0.1, 0.2, 0.7])
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"piano (pia)", "flute (flu)", "swap at step 2"}
    assert any("flu -> pia" in t.get_text() for t in fig.texts)
    assert [t.get_text() for t in ax.child_axes[0].get_xticklabels()][0] == "80"  # sigma along the steps
    with pytest.raises(ValueError, match="probabilities"):
        plot_trace({"instruments": ["pia"], "probs": [[0.5, 0.5]]})


def test_page_has_the_tables_audio_players_and_links_that_exist(results):
    page = results["swap_steps_audio"].parents[1] / "index.html"
    write_report(page, **results)
    text = page.read_text()
    parsed = parse(text)
    assert text.startswith("<!DOCTYPE html>") and "http" not in text.split("<body>")[0]  # no network assets
    assert "0.720 [0.650, 0.790]" in text  # Table I with its interval
    assert "0.310 [0.260, 0.360]" in text and "fixed:2" in text  # Table II with intervals
    assert "<details><summary>Per instrument pair (2 rows)" in text
    assert "last change of top-1" in text and "no edit (skipped)" in text and "no change: skip" in text
    assert "Swap-step sweep" not in text  # no sweep given
    # players: Figure 2 (2 pairs x 3) + gallery (2 sources + 4 strategy edits, one skipped)
    assert parsed.tags["audio"] == 6 + 2 + 3
    links = local_links(text)
    assert all(not Path(link).is_absolute() and not link.startswith("..") for link in links)
    for link in links:
        assert (page.parent / link).is_file(), link
    assert "assets/swap_steps/pia_to_vio/step_000.wav" in links  # Figure 2's audio, at the listening level
    # every player plays a copy at one loudness: LISTEN_RMS_DB RMS unless the peak limit held it lower
    original, sr = audio.load(results["sources_dirs"]["pia"] / "pia-p000-s0" / "source.wav")
    copied, sr2 = audio.load(page.parent / "assets" / "gallery" / "pia_to_vio" / "source.wav")
    gain_db = audio.rms_db(copied) - audio.rms_db(original)
    assert sr2 == sr and abs(audio.rms_db(copied) - LISTEN_RMS_DB) < 0.1 and audio.peak(copied) <= audio.PEAK_CEILING
    assert f"played at {gain_db:+.1f} dB" in text
    assert np.corrcoef(original[0], copied[0])[0, 1] > 0.9999  # the same signal, only scaled
    assert {"assets/classifiers/confusion_teacher.png", "assets/demo_loss.png", "assets/swap_steps.png"} <= set(links)
    # Figure 2's source trace drawn by plot_trace (with Diff-TONE's step); an old manifest's codes stay text
    assert "assets/traces/pia_to_vio.png" in links and "assets/traces/vio_to_pia.png" not in links
    assert "<code>pia vio</code>" in text
    assert not [p for p in page.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_page_shows_the_sweep_when_the_workflow_makes_it(results, tmp_path):
    sweep = tmp_path / "sweep.csv"
    pd.DataFrame(
        {"swap_step": [0, 3], "chroma": [0.5, 0.2], "chroma_low": [0.4, 0.1], "chroma_high": [0.6, 0.3]}
    ).to_csv(sweep, index=False)
    page = tmp_path / "report" / "index.html"
    write_report(page, **results, sweep_table=sweep, sweep_figure=png(tmp_path / "sweep.png"))
    text = page.read_text()
    parse(text)
    assert "Swap-step sweep" in text and "0.200 [0.100, 0.300]" in text and "assets/sweep.png" in local_links(text)
    # a page outside results/report copies Figure 2's audio too, so its folder stands alone
    for link in local_links(text):
        assert link.startswith("assets/") and (page.parent / link).is_file()


def test_page_with_a_missing_table_names_it_and_writes_nothing(results, tmp_path):
    results["table2"].unlink()
    page = tmp_path / "report" / "index.html"
    with pytest.raises(ExperimentError, match="table2_strategies.csv does not exist"):
        write_report(page, **results)
    assert not page.exists() and not (page.parent / "assets").exists()
    assert not [p for p in page.parent.iterdir() if p.name.startswith(".")]


def test_page_with_an_edit_missing_from_swaps_names_the_file(results, tmp_path):
    swaps = results["swap_steps_audio"].parents[2] / "edits" / "fixed-2" / "pia_to_vio" / "swaps.csv"
    pd.read_csv(swaps).assign(item="pia-p009-s0").to_csv(swaps, index=False)
    with pytest.raises(ExperimentError, match="fixed-2/pia_to_vio/swaps.csv has no edit of pia-p000-s0"):
        write_report(tmp_path / "index.html", **results)
    results["swaps_csvs"] = [p for p in results["swaps_csvs"] if p != swaps]
    with pytest.raises(ExperimentError, match="no swaps.csv of the fixed:2 edits of pia_to_vio"):
        write_report(tmp_path / "index.html", **results)


# -- examples, swap steps, config -------------------------------------------------------------------
def test_example_pairs_default_to_the_papers_pairs_that_are_configured():
    assert example_pairs(None, ["pia", "vio", "flu"]) == [("pia", "vio"), ("vio", "pia")]
    assert example_pairs(None, ["cel", "cla", "flu"]) == [("cel", "cla"), ("cla", "cel")]
    assert example_pairs([["flu", "pia"], ["flu", "pia"]], ["pia", "flu"]) == [("flu", "pia")]


def test_example_pair_of_an_unconfigured_instrument_is_a_config_error():
    with pytest.raises(ConfigError, match=r"report.examples\[0\]: 'gac' is not one of the configured"):
        validate_config({"instruments": ["pia", "vio"], "report": {"examples": [["pia", "gac"]]}})
    with pytest.raises(ConfigError, match="report.examples"):
        validate_config({"instruments": ["pia", "vio"], "report": {"examples": [["pia"]]}})
    with pytest.raises(ConfigError, match="source and target are both 'pia'"):
        example_pairs([["pia", "pia"]], ["pia", "vio"])
    config = validate_config({"instruments": ["pia", "vio"]})
    assert config["report"] == {"examples": None, "swap_steps": [0, 0.25, 0.5, 0.75, 0.9, 1.0]}


def test_swap_steps_are_rounded_fractions_of_n():
    assert swap_steps_of([0, 0.25, 0.5, 0.75, 0.9, 1.0], 30) == [0, 8, 15, 23, 27, 30]
    assert swap_steps_of([0.5, 0.5, 1.0], 6) == [3, 6]
    with pytest.raises(ConfigError, match="report.swap_steps"):
        swap_steps_of([1.5], 6)


def test_git_commit_of_a_checkout_and_of_a_plain_folder(tmp_path):
    commit = git_commit(Path(__file__).parent)
    assert commit is None or re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", commit)
    assert git_commit(tmp_path) is None


# -- the page in a real browser ---------------------------------------------------------------------
@pytest.mark.parametrize("width", [1280, 390])
def test_page_in_headless_chromium_fits_the_width_and_loads_everything(results, tmp_path, width):
    from browser import check_page, scroll_width

    page = results["swap_steps_audio"].parents[1] / "index.html"
    sweep = tmp_path / "sweep.csv"
    rows = [
        {
            "strategy": f"fixed:{k}",
            "step": k,
            "sigma": 1.0 / (k + 1),
            "source": s,
            "target": t,
            "n": 1,
            "chroma": 0.5 - 0.1 * k,
            "chroma_low": 0.4 - 0.1 * k,
            "chroma_high": 0.6 - 0.1 * k,
        }
        for k in range(7)
        for s, t in [("all", "all"), ("pia", "vio"), ("vio", "pia"), ("pia", "flu")]
    ]
    pd.DataFrame(rows).to_csv(sweep, index=False)
    # the verdict's "What was run" names the generator by its hub id, the page's longest unbroken word
    results["config"] = validate_config(
        {**results["config"], "model": {"spec": "stabilityai/stable-audio-open-1.0", "steps": 6}}
    )
    results["model_spec"] = "resources/models/sao"  # the fetched snapshot the jobs load
    write_report(page, **results, sweep_table=sweep, sweep_figure=png(tmp_path / "sweep.png"))
    assert check_page(page, width) == []
    assert scroll_width(page, width) <= width  # the page never scrolls sideways; wide tables scroll in their box


def test_the_browser_check_finds_overflow_broken_media_and_console_errors(tmp_path):
    from browser import check_page

    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width"></head><body>'
        '<div style="width:900px">wide</div><img src="missing.png" alt="x.png">'
        '<div style="overflow-x:auto"><table class="prose" style="width:700px"><tr><td>x</td></tr>'
        "</table></div>"
        '<audio controls preload="none" src="missing.wav"></audio>'
        "<script>console.error('boom')</script></body></html>"
    )
    problems = "\n".join(check_page(page, 390, timeout=10))
    for expected in [
        "page scrolls sideways at 390 px",
        "image does not load: missing.png",
        "audio does not load: missing.wav",
        "section #verdict missing",
        "without a label",
        "without preload=metadata",
        "without a meaningful alt",
        "console: ",
        "boom",
        "a table that must fit its box (the verdict's) is cut off: 700 px",
    ]:
        assert expected in problems, problems


# -- the verdict and the table rules -------------------------------------------------------------------
def test_verdict_says_stand_ins_and_weighs_the_papers_claims_by_paired_intervals():
    from difftone.report.verdict import PAPER_CLAIMS, claim_outcome, comparable_with_paper, held_differences, run_facts

    embedded = {
        "data": {"source": "embedded"},
        "teacher_features": {"kind": "logmel"},
        "metrics": {"clap": {"checkpoint": "tiny"}},
    }
    facts = run_facts(embedded, "demo")
    assert all(stand_in for _, _, stand_in in facts) and "not Stable Audio Open" in facts[0][1]
    assert not comparable_with_paper(facts, "demo")
    paper = {
        "data": {"source": "irmas"},
        "teacher_features": {"kind": "mert", "spec": "m-a-p/MERT-v1-95M"},
        "metrics": {"clap": {"checkpoint": "lukewys/laion_clap/music_audioset_epoch_15_esc_90.14.pt"}},
    }
    assert comparable_with_paper(
        run_facts(paper, "stabilityai/stable-audio-open-1.0"), "stabilityai/stable-audio-open-1.0"
    )

    t2 = pd.DataFrame(
        {
            "method": ["difftone", "difftone (changed)", "midpoint", "random"],
            "chroma": [0.2, 0.1, 0.3, 0.4],
            "kad": [1.0, 0.5, 2.0, 3.0],
            "inst_acc": [0.5, 0.9, 0.4, 0.6],
        }
    )
    paired = pd.DataFrame(
        {
            "strategy": ["midpoint", "random", "random"],
            "baseline": ["difftone", "difftone", "midpoint"],
            "metric": ["chroma", "chroma", "inst_acc"],
            "edits": 12,
            "sources": 6,
            "difference": [0.1, 0.2, 0.2],
            "low": [0.05, 0.1, -0.1],
            "high": [0.15, 0.3, 0.5],
            "excludes_zero": [True, True, False],
        }
    )
    outcomes = {c.metric: claim_outcome(c, t2, paired)[0] for c in PAPER_CLAIMS}
    # the "(changed)" subset row is no strategy: difftone is best on chroma, held by both paired intervals
    assert outcomes == {"chroma": "holds", "kad": "best here, not resolved", "inst_acc": "not seen"}
    held = held_differences(paired)
    assert [(h["strategy"], h["metric"], h["better"]) for h in held] == [
        ("midpoint", "chroma", False),
        ("random", "chroma", False),
    ]


def test_page_verdict_reference_rows_and_best_marks(results, tmp_path):
    paired = tmp_path / "paired.csv"
    pd.DataFrame(
        {
            "strategy": ["fixed:2"],
            "baseline": ["difftone"],
            "metric": ["chroma"],
            "edits": [8],
            "sources": [2],
            "strategy_mean": [0.41],
            "baseline_mean": [0.31],
            "difference": [0.1],
            "low": [0.02],
            "high": [0.2],
            "excludes_zero": [True],
        }
    ).to_csv(paired, index=False)
    ref = tmp_path / "chroma_reference.csv"
    pd.DataFrame(
        {
            "instrument": ["pia", "all"],
            "n": [2, 4],
            "chroma": [0.55, 0.6],
            "chroma_low": [0.5, 0.52],
            "chroma_high": [0.6, 0.68],
        }
    ).to_csv(ref, index=False)
    page = tmp_path / "report" / "index.html"
    write_report(page, **results, paired=paired, chroma_reference=ref)
    text = page.read_text()
    parse(text)
    verdict = text.split('<section id="verdict">')[1].split("</section>")[0]
    assert "Not comparable with the paper" in verdict
    assert "Best <b>chroma</b> ↓: <b>difftone</b> (0.310 [0.260, 0.360])" in verdict
    assert "<b>fixed:2</b> is worse than difftone on <b>chroma</b>: difference 0.100 [0.020, 0.200]" in verdict
    assert "95% percentile bootstrap" in text and "resampling whole source generations" in text
    table2 = text.split('<section id="table2">')[1]
    assert "chroma ↓ [CI]" in table2 and "inst_acc ↑ [CI]" in table2
    assert '<td class="num best"><b>0.310 [0.260, 0.360]</b> ★</td>' in table2  # lowest chroma
    assert "reference: chance (1/2 instruments)" in table2 and "0.500" in table2
    assert "reference: two different sources of one instrument (chroma)" in table2 and "0.600 [0.520, 0.680]" in table2
    assert (
        'href="assets/tables/table2_strategies.csv"' in table2 and (page.parent / "assets/tables/paired.csv").is_file()
    )
    assert "<dt>inst_acc</dt>" in table2  # every column defined


def test_registered_tables_render_when_given_and_unknown_ones_are_refused(results, tmp_path):
    t3 = tmp_path / "table3_musicmagus.csv"
    pd.DataFrame(
        {"method": ["difftone", "musicmagus"], "chroma": [0.3, 0.5], "inst_acc": [0.4, 0.7], "edits": [8, 8]}
    ).to_csv(t3, index=False)
    page = tmp_path / "report" / "index.html"
    write_report(page, **results, extra_tables={"table3": t3})
    section = page.read_text().split('<section id="table3">')[1].split("</section>")[0]
    assert "Table III: against MusicMagus" in section
    assert (
        '<td class="num best"><b>0.300</b> ★</td>' in section and '<td class="num best"><b>0.700</b> ★</td>' in section
    )
    assert "<dt>method</dt><dd>the editing method" in section
    with pytest.raises(ExperimentError, match=r"tables \['table9'\] are not in difftone.report.columns.TABLES"):
        write_report(tmp_path / "other" / "index.html", **results, extra_tables={"table9": t3})


def test_a_long_sweep_shows_its_pooled_rows_and_folds_the_rest(results, tmp_path):
    sweep = tmp_path / "sweep.csv"
    rows = [
        {"strategy": f"fixed:{k}", "step": k, "sigma": 1.0, "source": s, "target": t, "n": 1, "chroma": 0.1 * k}
        for k in range(7)
        for s, t in [("all", "all"), ("pia", "vio"), ("vio", "pia"), ("pia", "flu")]
    ]
    pd.DataFrame(rows).to_csv(sweep, index=False)
    page = tmp_path / "report" / "index.html"
    write_report(page, **results, sweep_table=sweep)
    section = page.read_text().split('<section id="sweep">')[1].split("</section>")[0]
    visible, folded = section.split("<details><summary>Every step and pair (28 rows)</summary>")
    assert visible.count("<tr>") == 1 + 7  # header + the pooled rows
    assert folded.count("<tr>") >= 1 + 28


def test_table_listening_plays_the_recording_its_reconstruction_and_every_methods_edit(results, tmp_path):
    r = results["swap_steps_audio"].parents[2]
    inverted = r / "real_audio" / "sources" / "guidance-3" / "pia"
    recording = tmp_path / "my_piano.wav"
    audio.write(recording, tone(262.0), SR)
    audio.write(inverted / "pia-p000-s0" / "source.wav", tone(261.0), SR)
    pd.DataFrame(
        [
            {
                "item": "pia-p000-s0",
                "instrument": "pia",
                "prompt_index": 0,
                "seed": 0,
                "prompt": "A recording of piano",
                "audio": "pia-p000-s0/source.wav",
                "trajectory": "pia-p000-s0/trajectory",
                "top1_final": "pia",
                "recording": str(recording),
            }
        ]
    ).to_csv(inverted / "items.csv", index=False)
    judged = r / "metrics" / "difftone" / "items.csv"
    judged.parent.mkdir(parents=True)
    pd.DataFrame([{"item": "pia-p000-s0", "target": "vio", "predicted": "vio", "judge_predicted": "cla"}]).to_csv(
        judged, index=False
    )
    # the section's files, as the workflow passes them: the inverted sources' folder, then per method its
    # items.csv and its swaps.csv of each pair; the table's rows name the methods (zeta's folder: its first word)
    spec = listening_files(
        [["pia", "vio"]],
        [inverted.parent],
        {
            "difftone": [r / "edits" / "difftone", judged],
            "zeta": [r / "edits" / "zeta", r / "metrics" / "zeta" / "items.csv"],
        },
    )
    shutil.copytree(r / "edits" / "fixed-2", r / "edits" / "zeta")
    t4 = tmp_path / "table4_real_audio.csv"
    pd.DataFrame(
        {"method": ["difftone", "difftone (changed)", "zeta (fixed:2)"], "chroma": [0.3, 0.2, 0.4], "edits": [1, 1, 1]}
    ).to_csv(t4, index=False)
    page = tmp_path / "report" / "index.html"
    with pytest.raises(ExperimentError, match="zeta/items.csv does not exist"):  # every items.csv it reads
        write_report(page, **results, extra_tables={"table4": t4}, listening={"table4": spec})
    (r / "metrics" / "zeta").mkdir()
    pd.DataFrame([{"item": "pia-p000-s0", "target": "vio", "predicted": "pia"}]).to_csv(
        r / "metrics" / "zeta" / "items.csv", index=False
    )
    assert listening_layout(spec, t4)["methods"] == {
        "difftone": [r / "edits" / "difftone", judged],
        "zeta (fixed:2)": [r / "edits" / "zeta", r / "metrics" / "zeta" / "items.csv"],
    }
    write_report(page, **results, extra_tables={"table4": t4}, listening={"table4": spec})
    text = page.read_text()
    parse(text)
    section = text.split('<section id="table4-listen">')[1].split("</section>")[0]
    assert [
        h for h in ("recording: piano", "VAE reconstruction", "difftone", "zeta (fixed:2)") if h not in section
    ] == []
    assert "teacher heard: <b>violin</b>; judge heard: <b>clarinet</b>" in section
    assert section.count("<audio") == 4 and "swap at step <b>2</b>" in section
    copied, _ = audio.load(page.parent / "assets" / "table4" / "pia_to_vio" / "recording.wav")
    assert np.corrcoef(copied[0], audio.load(recording)[0][0])[0, 1] > 0.9999
    assert text.index('<section id="table4">') < text.index('<section id="table4-listen">')
    swaps = r / "edits" / "zeta" / "pia_to_vio" / "swaps.csv"
    pd.read_csv(swaps).assign(item="pia-p009-s0").to_csv(swaps, index=False)
    with pytest.raises(ExperimentError, match="zeta/pia_to_vio/swaps.csv has no edit of pia-p000-s0"):
        write_report(
            tmp_path / "other" / "index.html", **results, extra_tables={"table4": t4}, listening={"table4": spec}
        )


def test_verdict_opens_with_three_sentences_and_groups_the_findings_by_comparison(results, tmp_path):
    t2 = {
        "method": ["difftone", "difftone (changed)", "midpoint", "random", "sigma:3.0"],
        "edits": [18, 10, 18, 18, 18],
        "sources": [6, 5, 6, 6, 6],
    }
    for metric, values in [
        ("chroma", [0.20, 0.1, 0.30, 0.40, 0.25]),
        ("kad", [1.0, 0.9, 1.2, 1.3, 1.1]),
        ("inst_acc", [0.5, 0.9, 0.7, 0.6, 0.4]),
        ("success", [0.45, 0.6, 0.30, 0.20, 0.35]),
    ]:
        t2 |= {
            metric: values,
            f"{metric}_low": [v - 0.05 for v in values],
            f"{metric}_high": [v + 0.05 for v in values],
        }
    pd.DataFrame(t2).to_csv(results["table2"], index=False)
    rows = []  # each strategy against difftone and midpoint; midpoint-difftone and difftone-midpoint are one comparison
    for baseline, strategy, metric, d, lo, hi in [
        ("difftone", "midpoint", "chroma", 0.10, 0.05, 0.15),
        ("difftone", "midpoint", "inst_acc", 0.2, -0.1, 0.5),
        ("difftone", "random", "chroma", 0.20, 0.10, 0.30),
        ("difftone", "sigma:3.0", "success", -0.1, -0.3, 0.1),
        ("midpoint", "difftone", "chroma", -0.10, -0.15, -0.05),
        ("midpoint", "random", "success", -0.1, -0.2, 0.1),
    ]:
        rows.append(
            {
                "strategy": strategy,
                "baseline": baseline,
                "metric": metric,
                "edits": 18,
                "sources": 6,
                "difference": d,
                "low": lo,
                "high": hi,
                "excludes_zero": lo > 0 or hi < 0,
            }
        )
    paired = tmp_path / "paired.csv"
    pd.DataFrame(rows).to_csv(paired, index=False)
    page = tmp_path / "report" / "index.html"
    write_report(page, **results, paired=paired)
    verdict = page.read_text().split('<section id="verdict">')[1].split("</section>")[0]
    lead = html.unescape(re.search(r'<p class="lead">(.*?)</p>', verdict).group(1))
    assert verdict.index('<p class="lead">') < verdict.index("<h3>What was run</h3>")  # the verdict opens with it
    sentences = re.split(r"(?<=\.) (?=[A-Z0-9])", lead)
    assert len(sentences) == 3, sentences
    # what it shows: from Table II (the strategies, their edits and sources, the best success; not the subset row)
    assert sentences[0] == (
        "This run compares 4 swap strategies (difftone, midpoint, random, sigma:3.0) on the same "
        "18 edits of 6 source generations (2 instruments, each into every other); on them "
        "difftone reached the target instrument while keeping the music most often "
        "(success 0.450)."
    )
    # how much holds: 5 comparisons (the mirrored difftone/midpoint chroma row counted once), 2 exclude 0
    assert sentences[1].startswith("2 of its 5 paired comparisons") and "with 6 sources." in sentences[1]
    # what it cannot show: the stand-ins of this run (the tiny model, the schema's embedded data, ...)
    assert sentences[2].startswith("It cannot show how Diff-TONE does in the paper's setting: its generator, ")
    assert "are stand-ins" in sentences[2]
    groups = re.findall(r"<h4>(.*?)</h4>", verdict)
    assert groups == [
        "Best per metric (Table II)",
        "Diff-TONE vs midpoint",
        "Diff-TONE vs random",
        "Diff-TONE vs fixed/sigma",
        "midpoint vs random",
        "Classifiers (Table I)",
    ]
    midpoint = verdict.split("<h4>Diff-TONE vs midpoint</h4>")[1].split("<h4>")[0]
    assert "<b>midpoint</b> is worse than difftone on <b>chroma</b>: difference 0.100 [0.050, 0.150]" in midpoint
    assert "Not resolved (the interval includes 0), midpoint minus difftone: inst_acc 0.200 [-0.100, 0.500]" in midpoint
    assert midpoint.count("<li>") == 2  # the mirrored row is not repeated
    classifiers = verdict.split("<h4>Classifiers (Table I)</h4>")[1]
    assert "irmas_test: teacher 0.720 [0.650, 0.790]; chance 0.500." in classifiers


def test_opening_of_a_run_on_the_papers_setup_says_what_its_intervals_cannot_resolve():
    from difftone.report.verdict import comparable_with_paper, opening, run_facts, run_spec

    paper = {
        "data": {"source": "irmas"},
        "teacher_features": {"kind": "mert", "spec": "m-a-p/MERT-v1-95M"},
        "metrics": {"clap": {"checkpoint": "lukewys/laion_clap/music_audioset_epoch_15_esc_90.14.pt"}},
        "model": {"spec": "stabilityai/stable-audio-open-1.0"},
    }
    spec = run_spec(paper, "resources/models/sao")  # the jobs load the fetched snapshot; the config names the model
    facts = run_facts(paper, spec)
    assert comparable_with_paper(facts, spec)
    t2 = pd.DataFrame({"method": ["difftone", "midpoint"], "inst_acc": [0.4, 0.6], "edits": [90, 90]})
    first, second, third = opening(facts, True, t2, None, 10)
    assert first.endswith("on them midpoint reached the target instrument most often (inst_acc 0.600).")
    assert "no paired comparisons" in second
    assert third.startswith("It ran the paper's model on real recordings") and "stand-in" not in third
    demo = run_facts({"data": {"source": "embedded"}}, run_spec({"model": {"spec": "demo"}}, "demo:results/demo/model"))
    assert demo[0][2] and "the demo generator" in demo[0][1]  # a stand-in, whatever path the jobs load it from
