"""Trajectories that do not fit: another model's (latent channels, window), another noise schedule,
or a folder of another format or version. Each is an error naming the prompt or the file."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import TINY_PROMPT
from safetensors.torch import load_file, save_file

from difftone.engine import EditError, Editor, Trajectory
from difftone.engine.trajectory import FORMAT, VERSION, TrajectoryError


@pytest.fixture(scope="module")
def editor(tiny_components, tiny_classifier):
    return Editor(tiny_components, tiny_classifier, progress=False)


def test_the_tiny_trajectory_fits_its_model(editor, tiny_trajectory):
    editor.check_trajectory(tiny_trajectory)  # no error
    assert tiny_trajectory.prompt == TINY_PROMPT


@pytest.mark.parametrize("change", ["channels", "window"])
def test_a_trajectory_of_another_model_is_an_edit_error_naming_the_prompt(editor, tiny_trajectory, change):
    lat = tiny_trajectory.latents
    other = torch.cat([lat, lat[:, :1]], dim=1) if change == "channels" else lat[..., :-1]
    bad = dataclasses.replace(tiny_trajectory, latents=other, model="another-model")
    with pytest.raises(EditError, match=rf"trajectory of '{TINY_PROMPT}' was made by another model \(another-model"):
        editor.check_trajectory(bad)
    with pytest.raises(EditError, match="regenerate the source with this model"):
        editor.edit_at(bad, ["A soft violin melody"], [2])


@pytest.mark.parametrize(
    "field, value",
    [
        ("sigmas", "scaled"),
        ("noise_bounds", (0.0, 1.0)),
    ],
)
def test_a_trajectory_of_another_schedule_is_an_edit_error_naming_the_prompt(editor, tiny_trajectory, field, value):
    if value == "scaled":
        value = [1.5 * s for s in tiny_trajectory.sigmas]
    bad = dataclasses.replace(tiny_trajectory, **{field: value})
    with pytest.raises(EditError, match=rf"trajectory of '{TINY_PROMPT}' used another noise schedule"):
        editor.check_trajectory(bad)


def test_a_saved_trajectory_loads_back(tiny_trajectory, tmp_path):
    loaded = Trajectory.load(tiny_trajectory.save(tmp_path / "traj"))
    assert loaded.prompt == TINY_PROMPT and torch.equal(loaded.latents, tiny_trajectory.latents)


def _rewrite_json(folder, **changes):
    meta_path = folder / "trajectory.json"
    meta = json.loads(meta_path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"version": VERSION + 1},
            rf"trajectory\.json: trajectory format version {VERSION + 1}, this difftone reads "
            rf"version 1, 2 or {VERSION}; rerun the stage that made it",
        ),
        ({"version": None}, rf"trajectory\.json: no format version \(this difftone reads version 1, 2 or {VERSION}\)"),
        ({"format": "something-else"}, rf"trajectory\.json: not a {FORMAT} \(format 'something-else'\)"),
        ({"format": None}, rf"trajectory\.json: not a {FORMAT} \(format None\)"),
        ({"prompt": None}, r"trajectory\.json: lacks the key 'prompt'"),
    ],
)
def test_a_folder_of_another_format_or_version_is_a_clear_error(tiny_trajectory, tmp_path, changes, message):
    folder = tiny_trajectory.save(tmp_path / "traj")
    _rewrite_json(folder, **changes)
    with pytest.raises(TrajectoryError, match=message):
        Trajectory.load(folder)


def test_tensors_of_another_version_or_unreadable_are_a_clear_error(tiny_trajectory, tmp_path):
    folder = tiny_trajectory.save(tmp_path / "traj")
    tensors = folder / "tensors.safetensors"
    save_file(load_file(str(tensors)), str(tensors), metadata={"format": FORMAT, "version": str(VERSION + 1)})
    with pytest.raises(TrajectoryError, match=rf"tensors\.safetensors: trajectory format version {VERSION + 1}"):
        Trajectory.load(folder)
    tensors.write_bytes(b"not safetensors")
    with pytest.raises(TrajectoryError, match=r"tensors\.safetensors: cannot be read"):
        Trajectory.load(folder)
    (folder / "trajectory.json").write_text("{not json")
    with pytest.raises(TrajectoryError, match=r"trajectory\.json: not valid JSON"):
        Trajectory.load(folder)


def test_a_folder_without_the_files_is_not_a_trajectory(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a trajectory folder"):
        Trajectory.load(tmp_path)
