"""MusicMagus on the backbone interface: tiny SAO and tiny AudioLDM2 (same code path as the real run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from difftone.engine import Editor
from difftone.engine.musicmagus import (
    Constraint,
    CrossAttentionStore,
    MusicMagusError,
    MusicMagusSettings,
    caption_direction,
    edited_conditioning,
    musicmagus_edit,
)
from difftone.models import load_backbone
from difftone.models.audioldm2 import MODEL_COMPONENTS, save_tiny_snapshot

REPO = Path(__file__).resolve().parents[1]

CAPTIONS = {
    "pia": ["a soft piano melody with gentle chords", "bright piano notes in a calm classical piece"],
    "vio": ["a lyrical violin line with vibrato", "slow bowed violin notes in a sad tune"],
}
PROMPT = "A soft piano melody"
STEPS, DURATION = 6, 1.0


@pytest.fixture(scope="module", params=["tiny", "audioldm2-tiny"])
def setup(request):
    backbone = load_backbone(request.param)
    editor = Editor(backbone, progress=False)
    traj = editor.generate(PROMPT, 3, steps=STEPS, duration=DURATION, guidance_scale=3.0)
    return editor, traj


def plain_edited_run(editor, traj, settings):
    """The edited conditioning run by the ordinary loop, no constraint: what step size 0 must equal."""
    b = editor.backbone
    direction = caption_direction(b, CAPTIONS["pia"], CAPTIONS["vio"], settings)
    cond = edited_conditioning(
        editor.encode([traj.prompt], traj.duration), editor.encode(["A soft violin melody"], traj.duration), direction
    )
    result = editor.denoise(
        traj.latents[0].unsqueeze(0), cond, [traj.seed], traj.steps, traj.guidance_scale, traj.latent_frames
    )
    return editor.decode(result.latents, traj.duration)[0], cond


def test_step_size_zero_equals_the_plain_edited_run(setup):
    editor, traj = setup
    settings = MusicMagusSettings(step_size=0.0, caption_words=4)
    edit = musicmagus_edit(editor, traj, "pia", "vio", CAPTIONS, settings)
    plain, _ = plain_edited_run(editor, traj, settings)
    assert edit.target_prompt == "A soft violin melody"
    assert edit.losses == []
    assert edit.nfe == STEPS
    torch.testing.assert_close(edit.audio, plain)


def test_the_constraint_moves_the_latent_and_lowers_the_loss(setup):
    editor, traj = setup
    settings = MusicMagusSettings(step_size=0.04, caption_words=4)
    _, cond = plain_edited_run(editor, traj, settings)
    src_cond = editor.encode([traj.prompt], traj.duration)
    schedule = editor.new_schedule(traj.steps)
    step = 2
    # the edited run's own x_step differs from the source's; start from a perturbed source latent
    x = traj.latents[step].unsqueeze(0) + 0.3 * torch.randn(
        1, *traj.latents.shape[1:], generator=torch.Generator().manual_seed(0)
    )
    with CrossAttentionStore(editor.backbone) as store:
        c = Constraint(editor, store, traj, src_cond, settings)
        ref = c.reference_maps(step, schedule, 1)
        assert ref and all(m.shape[0] == 2 for m in ref.values())  # CFG halves
        x_in = x.clone().requires_grad_(True)
        with torch.enable_grad():
            before = c.loss(step, x_in, schedule, cond, ref)
            (grad,) = torch.autograd.grad(before.sum(), x_in)
        # random tiny weights: the loss and its gradient are small, so size the step to a 10 % first-order decrease
        # (in the model-input space the step is taken in: grad / c = gradient w.r.t. c * x)
        scale = float(editor.backbone.input_scale(schedule, step))
        g2 = float(((grad / scale) ** 2).sum())
        settings = MusicMagusSettings(step_size=0.1 * float(before) / g2, caption_words=4)
        c.settings = settings
        moved, loss0 = c.update(step, x, schedule, cond, ref)
        after = c.loss(step, moved, schedule, cond, ref)
    torch.testing.assert_close(loss0, before.detach())
    assert not torch.equal(moved, x)
    assert float(before) > 0 and float(after) < 0.95 * float(before)
    # a real run with the constraint differs from step size 0 and records one loss per step, 3 NFE per step
    edit = musicmagus_edit(editor, traj, "pia", "vio", CAPTIONS, settings)
    plain, _ = plain_edited_run(editor, traj, settings)
    assert len(edit.losses) == STEPS and edit.nfe == 3 * STEPS
    assert not torch.allclose(edit.audio, plain)


def test_the_processors_are_restored_and_the_output_is_unchanged(setup):
    editor, traj = setup
    layers = editor.backbone.cross_attention_layers()
    before = {n: type(m.processor) for n, m in layers.items()}
    with CrossAttentionStore(editor.backbone):
        pass
    assert {n: type(m.processor) for n, m in layers.items()} == before


def test_missing_captions_name_the_instrument(setup):
    editor, traj = setup
    with pytest.raises(MusicMagusError, match=r"no captions for gac \(acoustic guitar\)"):
        musicmagus_edit(editor, traj, "pia", "gac", CAPTIONS)


def test_a_backbone_without_cross_attention_is_refused(setup):
    editor, _ = setup

    class NoCross:
        spec = "no-cross"

        def cross_attention_layers(self):
            return {}

    with pytest.raises(MusicMagusError, match="no-cross has no cross-attention layers"):
        CrossAttentionStore(NoCross())


def test_settings_are_checked():
    with pytest.raises(MusicMagusError, match="musicmagus.step_size"):
        MusicMagusSettings(step_size=-1)
    with pytest.raises(MusicMagusError, match="musicmagus.steps"):
        MusicMagusSettings(steps=(0.5, 0.2))
    s = MusicMagusSettings.from_config({"step_size": 0.15, "layers": ["attn2"], "steps": [0, 0.5], "other": 1})
    assert s.layers == ("attn2",) and s.steps == (0.0, 0.5) and s.constrained(2, 6) and not s.constrained(3, 6)


def test_cli_edits_a_snapshot_in_cvssp_audioldm2s_layout(tmp_path):
    """`difftone edit --method musicmagus --config configs/paper.yaml --model <snapshot>` on a snapshot laid out as
    cvssp/audioldm2 is: model_index.json names GPT2Model (no generation helpers, which the pipeline calls) and the
    CLAP config says float64. The loader reads the language model as GPT2LMHeadModel with the file's weights and
    every component at the dtype asked for."""
    from difftone.cli import main

    snapshot = save_tiny_snapshot(tmp_path / "audioldm2")
    fixture = REPO / "tests" / "fixtures" / "audioldm2-configs"
    hub_index = json.loads((fixture / "model_index.json").read_text())
    index = json.loads((snapshot / "model_index.json").read_text())
    assert {k: v for k, v in index.items() if not k.startswith("_")} == {
        k: v for k, v in hub_index.items() if not k.startswith("_")
    }
    assert index["language_model"] == ["transformers", "GPT2Model"]
    assert json.loads((snapshot / "text_encoder" / "config.json").read_text())["torch_dtype"] == "float64"

    out = tmp_path / "mm"
    args = [
        "-q",
        "edit",
        "--method",
        "musicmagus",
        "--config",
        str(REPO / "configs" / "paper.yaml"),
        "--model",
        str(snapshot),
        "--prompt",
        PROMPT,
        "--source",
        "piano",
        "--target",
        "violin",
        "--steps",
        "2",
        "--duration",
        str(DURATION),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    record = json.loads((out / "edit.json").read_text())
    assert record["method"] == "musicmagus" and record["target_prompt"] == "A soft violin melody"
    assert len(record["constraint_loss"]) == 2 and record["nfe"]["edit"] == 3 * 2
    source, sr = sf.read(out / "source.wav")
    edit, sr2 = sf.read(out / "edit.wav")
    assert sr == sr2 == 16000 and source.shape == edit.shape and abs(source - edit).max() > 0

    pipe = load_backbone(str(snapshot), dtype="float32").pipeline
    lm = pipe.language_model
    assert type(lm).__name__ == "GPT2LMHeadModel" and lm.lm_head.weight is lm.transformer.wte.weight
    saved, state = load_file(snapshot / "language_model" / "model.safetensors"), lm.state_dict()
    assert set(state) == {f"transformer.{k}" for k in saved} | {"lm_head.weight"}
    assert all(torch.equal(state[f"transformer.{k}"], v) for k, v in saved.items())
    assert {name: getattr(pipe, name).dtype for name in MODEL_COMPONENTS} == dict.fromkeys(
        MODEL_COMPONENTS, torch.float32
    )


def _items(path, strategy, rows):
    import pandas as pd

    from difftone.experiment.scoring import ITEM_COLUMNS

    df = pd.DataFrame(
        [
            {
                "strategy": strategy,
                "source": s,
                "target": t,
                "item": i,
                "swap_step": 0,
                "sigma": 1.0,
                "chroma": c,
                "predicted": t,
                "inst_acc": a,
                "success": a,
                "judge_predicted": t,
                "judge_acc": a,
                "fallback": False,
                "reason": "x",
            }
            for s, t, i, c, a in rows
        ],
        columns=ITEM_COLUMNS,
    )
    df.to_csv(path, index=False)
    return path


def test_table3_reads_the_test_sources_of_the_pairs_every_method_edited(tmp_path):
    import pandas as pd

    from difftone.experiment.musicmagus import write_table3

    pd.DataFrame(
        {
            "item": ["p0", "p1", "p2", "v0", "v1"],
            "instrument": ["pia"] * 3 + ["vio"] * 2,
            "part": ["tuning", "test", "test", "tuning", "test"],
        }
    ).to_csv(tmp_path / "split.csv", index=False)
    mm = _items(
        tmp_path / "mm.csv",
        "musicmagus",
        [("pia", "vio", "p1", 0.2, 1.0), ("pia", "vio", "p2", 0.4, 0.0), ("vio", "pia", "v1", 0.3, 1.0)],
    )
    dt = _items(
        tmp_path / "dt.csv",
        "difftone",
        [  # every pair, a tuning source too: neither may enter Table III
            ("pia", "vio", "p0", 0.9, 0.0),
            ("pia", "vio", "p1", 0.1, 0.0),
            ("pia", "vio", "p2", 0.1, 1.0),
            ("pia", "flu", "p1", 0.5, 1.0),
            ("vio", "pia", "v1", 0.2, 0.0),
        ],
    )
    table = write_table3(
        {"musicmagus": mm, "difftone": dt},
        {},
        tmp_path / "split.csv",
        [["pia", "vio"], ["vio", "pia"]],
        tmp_path / "t3.csv",
        tmp_path / "t3_paired.csv",
        {"n_boot": 50, "seed": 0, "alpha": 0.05},
    )
    assert list(zip(table["method"], table["pair"])) == [
        (m, p) for m in ["musicmagus", "difftone"] for p in ["pia_to_vio", "vio_to_pia", "all"]
    ]
    rows = table.set_index(["method", "pair"])
    assert rows.loc[("musicmagus", "all"), "edits"] == 3 and rows.loc[("musicmagus", "all"), "sources"] == 3
    assert rows.loc[("musicmagus", "pia_to_vio"), "chroma"] == pytest.approx(0.3)
    assert rows.loc[("difftone", "all"), "chroma"] == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    assert rows.loc[("difftone", "all"), "excluded"] == 0  # its pia->flu edit is not a Table III pair
    assert rows.loc[("musicmagus", "all"), "judge_acc"] == pytest.approx(2 / 3)
    paired = pd.read_csv(tmp_path / "t3_paired.csv").set_index(["pair", "metric"])
    assert paired.loc[("all", "chroma"), "difference"] == pytest.approx((0.1 + 0.3 + 0.1) / 3)
    assert set(paired["strategy"]) == {"musicmagus"} and set(paired["baseline"]) == {"difftone"}
    assert (tmp_path / "t3.md").read_text().startswith("| method | pair |")


def test_table3_names_a_pair_a_method_did_not_edit(tmp_path):
    import pandas as pd

    from difftone.experiment.items import ExperimentError
    from difftone.experiment.musicmagus import table3

    pd.DataFrame({"item": ["p0", "p1"], "instrument": ["pia"] * 2, "part": ["tuning", "test"]}).to_csv(
        tmp_path / "split.csv", index=False
    )
    mm = _items(tmp_path / "mm.csv", "musicmagus", [("pia", "vio", "p1", 0.2, 1.0)])
    dt = _items(tmp_path / "dt.csv", "difftone", [("pia", "vio", "p1", 0.1, 0.0)])
    with pytest.raises(ExperimentError, match=r"mm.csv has no test edit of pia->gac"):
        table3(
            {"musicmagus": mm, "difftone": dt},
            {},
            tmp_path / "split.csv",
            [["pia", "vio"], ["pia", "gac"]],
            {"n_boot": 10, "seed": 0, "alpha": 0.05},
        )
