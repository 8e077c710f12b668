"""Config validation: the schema, difftone.config, and Snakemake's own validation."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from difftone.config import ConfigError, load_config, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def test_embedded_config_is_valid_and_matches_the_schema_defaults():
    config = load_config(ROOT / "config.yaml")
    schema = load_schema()["properties"]["data"]["properties"]
    assert config["data"] == {key: spec["default"] for key, spec in schema.items()}
    assert validate_config({})["data"] == config["data"]  # every data default is filled in


def test_every_data_key_is_typed_described_and_defaulted():
    for key, spec in load_schema()["properties"]["data"]["properties"].items():
        assert {"type", "description", "default"} <= set(spec), key


@pytest.mark.parametrize(
    "data, key, words",
    [
        ({"split_seed": "x"}, "data.split_seed", "not of type 'integer'"),
        ({"clips_per_instrument": 2.5}, "data.clips_per_instrument", "not of type 'integer'"),
        ({"val_fraction": 1.5}, "data.val_fraction", "greater than or equal to the maximum"),
        ({"bad_clip_policy": "ignore"}, "data.bad_clip_policy", "is not one of"),
        ({"irmas_md5": "abc"}, "data.irmas_md5", "does not match"),
        ({"silence_db": 6}, "data.silence_db", "greater than the maximum"),
    ],
)
def test_wrong_values_name_the_key(data, key, words):
    with pytest.raises(ConfigError, match=rf"{key}: .*{words}"):
        validate_config({"data": data})


def test_unknown_keys_are_rejected_naming_them():
    with pytest.raises(
        ConfigError, match=r"data: Additional properties are not allowed \('split_sed' was unexpected\)"
    ):
        validate_config({"data": {"split_sed": 3}})
    with pytest.raises(ConfigError, match=r"<top level>: .*'datta' was unexpected"):
        validate_config({"datta": {}})


def test_load_config_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {split_seed: [1]}\n")
    with pytest.raises(ConfigError, match=rf"invalid {bad}:\n  data.split_seed"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


@pytest.fixture
def workdir(workflow_workdir):
    return workflow_workdir


def _run(workdir, config, *args):
    (workdir / "test.yaml").write_text(yaml.safe_dump(config))
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
        str(workdir / "test.yaml"),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


def test_snakemake_rejects_a_wrong_type_before_any_job(workdir):
    rc, out = _run(workdir, {"data": {"split_seed": "seven"}})  # a real run: nothing may start
    assert rc != 0
    assert "'seven' is not of type 'integer'" in out
    assert "On instance['data']['split_seed']" in out
    assert not (workdir / "results").exists()


def test_snakemake_rejects_an_unknown_key(workdir):
    rc, out = _run(workdir, {"data": {"clip_second": 3.0}}, "-n")
    assert rc != 0
    assert "Additional properties are not allowed ('clip_second' was unexpected)" in out


def test_snakemake_accepts_the_embedded_default(workdir):
    rc, out = _run(workdir, {}, "-n")
    assert rc == 0, out
    assert "render_embedded" in out


def test_swap_steps_beyond_the_schedule_are_rejected_naming_the_key(workdir):
    with pytest.raises(ConfigError, match=r"sweep\.steps: step 40 is beyond model\.steps \(30\)"):
        validate_config({"model": {"steps": 30}, "sweep": {"steps": [0, 40]}})
    with pytest.raises(
        ConfigError,
        match=r"edits\.strategies: strategy fixed:K needs an integer K in \[0, 30\], got '31' \(model\.steps is 30\)",
    ):
        validate_config({"model": {"steps": 30}, "edits": {"strategies": ["fixed:31"]}})
    rc, out = _run(workdir, {"model": {"steps": 10}}, "-n")  # the default sweep grid reaches step 30
    assert rc != 0 and "sweep.steps: step 18 is beyond model.steps (10)" in out
