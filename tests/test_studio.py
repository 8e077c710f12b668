"""`difftone studio` on the tiny model: its API through gradio_client, and its page in headless Chromium.

The app is started once for the module (4 steps, 1 s) on a free port."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file

from difftone.cli import main

torch.set_num_threads(1)

STEPS, SECONDS, SR = 4, 1.0, 44100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("studio") / "config.yaml"
    path.write_text(
        f"model: {{spec: tiny, steps: {STEPS}, duration: {SECONDS}}}\n"
        "studio: {max_upload_seconds: 3, steps_to_hear: 3}\n"
    )
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The folder the studio (and difftone edit, to compare) starts in: no config.yaml, no trained model."""
    return tmp_path_factory.mktemp("empty_workdir")


@pytest.fixture(scope="module")
def app(config_file, workdir, tmp_path_factory):
    from difftone.session import resolve_session
    from difftone.studio.app import serve
    from difftone.studio.backend import Resolved

    session = resolve_session(config_path=config_file, workdir=workdir)
    resolved = Resolved.of(session)
    assert resolved.spec == "tiny" and "noise" in resolved.random_sound  # tiny: random weights, the banner
    out = tmp_path_factory.mktemp("studio_out")
    demo, url = serve(resolved, "127.0.0.1", _free_port(), block=False, out_dir=out)
    yield url, out
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


def _frames(path) -> tuple[int, int]:
    info = sf.info(path)
    return info.frames, info.samplerate


# -- the resolution: difftone edit's -------------------------------------------------------------------
def test_untrained_demo_weights_get_the_banner_and_flags_override_the_config(tmp_path):
    from difftone.session import resolve_session
    from difftone.studio.backend import Resolved

    (tmp_path / "config.yaml").write_text("model: {spec: demo, dtype: bfloat16}\n")
    resolved = Resolved.of(resolve_session(workdir=tmp_path))  # no results/demo/model in this folder
    assert (resolved.spec, resolved.classifier, resolved.dtype, resolved.device) == ("demo", None, "bfloat16", "cpu")
    assert "untrained demo weights" in resolved.random_sound and "noise" in resolved.random_sound
    assert Resolved.of(resolve_session(workdir=tmp_path), "cuda:1", "float32").device == "cuda:1"
    trained = Resolved.of(resolve_session(model="demo:/somewhere/trained", workdir=tmp_path))
    assert trained.random_sound is None


def test_studio_start_up_checks_the_classifier_as_difftone_edit(tmp_path, capsys):
    assert main(["studio", "--classifier", str(tmp_path / "missing"), "--model", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "missing does not exist" in err and "results/classifiers/distilled" in err


# -- the API -----------------------------------------------------------------------------------------
def test_api_names_are_fixed(client):
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) >= {
        "/generate",
        "/edit",
        "/edit_audio",
    }


def test_generate_returns_the_source_and_its_trace(client):
    audio, trace = client.predict("A soft piano melody", 3, api_name="/generate")
    assert _frames(audio) == (int(SECONDS * SR), SR)
    assert len(trace["probs"]) == STEPS and len(trace["probs"][0]) == 10 and len(trace["top1"]) == STEPS
    assert np.allclose(np.sum(trace["probs"], axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("strategy", ["difftone", "random"])
def test_edit_matches_difftone_edit(client, config_file, workdir, tmp_path, strategy, monkeypatch):
    source, edit, record = client.predict("A soft piano melody", "piano", "violin", strategy, 7, api_name="/edit")
    assert _frames(source) == _frames(edit) == (int(SECONDS * SR), SR)
    out = tmp_path / "cli"
    monkeypatch.chdir(workdir)  # difftone edit resolves the session where the studio did
    assert (
        main(
            [
                "-q",
                "edit",
                "--prompt",
                "A soft piano melody",
                "--source",
                "piano",
                "--target",
                "violin",
                "--seed",
                "7",
                "--strategy",
                strategy,
                "--config",
                str(config_file),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    cli = json.loads((out / "edit.json").read_text())
    for key in ("swap_step", "sigma", "reason", "target_prompt", "source", "target", "steps", "fallback", "strategy"):
        assert record[key] == cli[key], key
    assert record["nfe"] == cli["nfe"]
    assert np.allclose(sf.read(edit)[0], sf.read(out / "edit.wav")[0], atol=2e-4)  # the same audio


def test_edit_of_several_words_takes_one_target_per_word(client):
    _, edit, record = client.predict("A duet for piano and trumpet", "pia,tru", "org,sax", "", 0, api_name="/edit")
    assert record["strategy"] == "presence" and record["target"] == ["org", "sax"]
    assert record["target_prompt"] == "A duet for organ and saxophone" and len(record["words"]) == 2
    assert _frames(edit) == (int(SECONDS * SR), SR)


def test_edit_audio_returns_the_reconstruction_at_the_files_rate_and_length(client, tmp_path):
    rate, n = 22050, 33075  # 1.5 s, mono
    t = np.arange(n) / rate
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    recon, edit, record = client.predict(
        handle_file(str(tmp_path / "tone.wav")), "piano", "violin", "fixed:2", api_name="/edit_audio"
    )
    assert _frames(recon) == _frames(edit) == (n, rate)
    assert sf.info(edit).channels == 1
    assert record["swap_step"] == 2 and record["nfe"]["inversion"] == STEPS
    assert (
        record["audio"]["file"] == "tone.wav"
        and record["audio"]["samples"] == n
        and record["audio"]["sample_rate"] == rate
    )


def test_an_upload_longer_than_a_window_is_edited_as_difftone_edit_audio_edits_it(workdir, tmp_path, monkeypatch):
    """Windows, one swap step, crossfades (difftone.long_audio.edit_recording): the studio's record and audio are
    those of difftone edit --audio on the same file, at the file's rate and length."""
    from difftone.session import resolve_session
    from difftone.studio.app import StudioApp
    from difftone.studio.backend import Resolved, Studio

    config = tmp_path / "long.yaml"
    config.write_text(
        f"model: {{spec: tiny, steps: {STEPS}, duration: {SECONDS}}}\nstudio: {{max_upload_seconds: 30}}\n"
    )
    studio = Studio(Resolved.of(resolve_session(config_path=config, workdir=workdir)), tmp_path / "out")
    rate = 22050
    n = int((studio.backbone.max_duration + 2.5) * rate)  # longer than one window of the model
    t = np.arange(n) / rate
    sf.write(tmp_path / "long.wav", 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(t)), rate)
    recon, edit, record = StudioApp(studio).api_edit_audio(
        str(tmp_path / "long.wav"), "piano", "violin", "fixed:2", progress=lambda *a, **k: None
    )
    assert _frames(recon) == _frames(edit) == (n, rate)
    assert len(record["windows"]) >= 2 and record["swap_step"] == 2 and record["audio"]["file"] == "long.wav"
    out = tmp_path / "cli"
    monkeypatch.chdir(workdir)
    assert (
        main(
            [
                "-q",
                "edit",
                "--audio",
                str(tmp_path / "long.wav"),
                "--source",
                "piano",
                "--target",
                "violin",
                "--strategy",
                "fixed:2",
                "--seed",
                str(studio.config["real_audio"]["seed"]),
                "--config",
                str(config),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    cli = json.loads((out / "edit.json").read_text())
    for key in ("swap_step", "reason", "target_prompt", "windows", "window_steps", "nfe", "sample_rate", "prompt"):
        assert record[key] == cli[key], key
    assert np.allclose(sf.read(edit)[0], sf.read(out / "edit.wav")[0], atol=2e-4)


def test_a_bad_upload_is_one_message_and_the_server_goes_on(client, tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(SR), SR)
    with pytest.raises(Exception, match="silent"):
        client.predict(handle_file(str(tmp_path / "silent.wav")), "piano", "violin", "", api_name="/edit_audio")
    sf.write(tmp_path / "long.wav", 0.3 * np.ones(4 * SR), SR)
    with pytest.raises(Exception, match=r"studio.max_upload_seconds"):
        client.predict(handle_file(str(tmp_path / "long.wav")), "piano", "violin", "", api_name="/edit_audio")
    with pytest.raises(Exception, match="does not contain the source instrument tru"):
        client.predict("A soft piano melody", "trumpet", "violin", "", 0, api_name="/edit")
    with pytest.raises(Exception, match="strategy"):
        client.predict("A soft piano melody", "piano", "violin", "nonsense", 0, api_name="/edit")
    audio, trace = client.predict("A soft piano melody", 0, api_name="/generate")  # still serving
    assert _frames(audio)[0] == int(SECONDS * SR)


def test_no_server_file_outside_the_studio_is_readable(app, tmp_path):
    import urllib.error
    import urllib.request

    url, _ = app
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the page")
    for path in (secret, "/etc/passwd"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert err.value.code in (403, 404)


# -- the page in headless Chromium ---------------------------------------------------------------------
PLAYERS = """
return [...document.querySelectorAll('.component-wrapper[data-testid^="waveform-"]')].filter(w => w.offsetParent !== null).map(w => {
  const block = w.closest('[id]');
  const link = block ? block.querySelector('a.download-link') : null;
  const d = w.querySelector('#duration');
  return {id: block ? block.id : '', href: link ? link.href : null, duration: d ? d.textContent.trim() : null};
});
"""
PLAYERS_READY = (
    PLAYERS.replace("return [", "const players = [", 1)
    + "return players.every(p => p.duration && p.duration !== '0:00') ? players : null;"
)
FETCH_OK = """
const done = arguments[arguments.length - 1];
Promise.all(arguments[0].map(u => fetch(u).then(r => r.ok ? r.arrayBuffer().then(b => b.byteLength) : -r.status)))
  .then(done, e => done(String(e)));
"""


def _wait(driver, script: str, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for: {script}")


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_page_generates_edits_and_plays_in_chromium_at_390_px(app):
    from browser import driver

    url, _ = app
    d = driver(390, 1200)
    try:
        d.get(url)
        _wait(d, "return document.querySelector('#generate') !== null")
        assert "noise" in d.find_element("css selector", "#banner").text  # the tiny model's banner
        d.find_element("css selector", "#generate").click()  # generate, then edit with Diff-TONE
        _wait(d, "return document.querySelector('#edit-audio a.download-link') !== null")
        why = d.find_element("css selector", "#why").text
        assert why.startswith("Swap step") and "difftone" in why
        _wait(d, "const i = document.querySelector('#trace img'); return i && i.complete && i.naturalWidth > 0")
        d.find_element("css selector", "#hear").click()
        _wait(d, "return document.querySelectorAll('[id^=step-] a.download-link').length >= 3")
        players = _wait(d, PLAYERS_READY)  # every visible player decoded its audio
        ids = [p["id"] for p in players]
        assert "source-audio" in ids and "edit-audio" in ids and sum(i.startswith("step-") for i in ids) >= 3
        sizes = d.execute_async_script(FETCH_OK, [p["href"] for p in players])
        assert all(isinstance(s, int) and s > 1000 for s in sizes), sizes
        chosen = d.find_elements("css selector", ".chosen-step")
        assert len(chosen) == 1 and "chosen" in chosen[0].text
        assert d.execute_script("return document.documentElement.scrollWidth") <= 390
        assert _errors(d) == []
    finally:
        d.quit()


def test_page_shows_a_bad_input_as_one_message_in_chromium(app):
    from browser import driver

    url, _ = app
    d = driver(1280)
    try:
        d.get(url)
        _wait(d, "return document.querySelector('#prompt textarea') !== null")
        from selenium.webdriver.common.keys import Keys

        box = d.find_element("css selector", "#prompt textarea")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        d.find_element("css selector", "#generate").click()
        messages = _wait(
            d,
            "const m = [...document.querySelectorAll('*')].filter(e => e.children.length === 0 "
            "&& (e.textContent || '').includes('type a prompt')); return m.length ? m.length : null",
            60,
        )
        assert messages == 1
        assert d.execute_script("return document.documentElement.scrollWidth") <= 1280
    finally:
        d.quit()


def test_edit_with_a_trained_classifier_returns_a_record_gradio_client_reads(config_file, workdir, tiny_classifier_dir):
    """With a classifier checkpoint (as after a run), the record names it without a ``path`` key:
    gradio_client downloads any dict with one as a file, and the server refuses a path outside its folder."""
    from difftone.session import resolve_session
    from difftone.studio.app import serve
    from difftone.studio.backend import Resolved

    session = resolve_session(config_path=config_file, classifier=str(tiny_classifier_dir), workdir=workdir)
    demo, url = serve(Resolved.of(session), "127.0.0.1", _free_port(), block=False)
    try:
        _, edit_wav, record = Client(url, verbose=False).predict(
            "A soft piano melody", "piano", "violin", "difftone", 0, api_name="/edit"
        )
    finally:
        demo.close()
    record = record if isinstance(record, dict) else json.loads(Path(record).read_text())
    assert record["classifier"]["checkpoint"] == str(tiny_classifier_dir) and "path" not in record["classifier"]
    assert _frames(edit_wav)[0] > 0
