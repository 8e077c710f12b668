"""Prompts: offline generator, validation, the OpenAI path through a fake transport, the rule."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import openai
import pytest

from difftone.engine import swap_instrument
from difftone.instruments import DEFAULT_CODES, INSTRUMENTS
from difftone.prompts import (
    PromptError,
    PromptSourceError,
    make_prompts,
    offline_prompts,
    openai_prompts,
    prompt_problem,
    read_prompts,
    validate_prompt_file,
)

ROOT = Path(__file__).resolve().parents[1]


def test_offline_prompts_deterministic_varied_and_valid():
    for code in DEFAULT_CODES:
        prompts = offline_prompts(code, 30, seed=0)
        assert len(prompts) == len({p.lower() for p in prompts}) == 30
        assert all(prompt_problem(p, code) is None for p in prompts)
        assert len({p.split(INSTRUMENTS[code].name)[0] for p in prompts}) > 5  # varied openings
        assert offline_prompts(code, 30, seed=0) == prompts
    assert offline_prompts("pia", 10, seed=1) != offline_prompts("pia", 10, seed=0)
    assert offline_prompts("pia", 5) != offline_prompts("vio", 5)
    assert not any(" a a" in p.lower() or " a e" in p.lower() for p in offline_prompts("org", 200))


def test_prompt_problem_and_swap():
    assert prompt_problem("A soft and elegant piano legato note.", "pia") is None
    assert "exactly once" in prompt_problem("A soft melody.", "pia")
    assert "2 times" in prompt_problem("Piano, piano and more.", "pia")
    assert "another instrument" in prompt_problem("A piano and violin duet.", "pia")
    assert prompt_problem("A warm acoustic guitar ballad.", "gac") is None
    assert "another instrument" in prompt_problem("An acoustic guitar with a guitar.", "gac")
    # every offline prompt can be swapped by the engine (difftone.engine.swap_instrument)
    for code in DEFAULT_CODES:
        for prompt in offline_prompts(code, 10, seed=1):
            swapped = swap_instrument(prompt, code, "vio" if code != "vio" else "pia")
            assert prompt_problem(swapped, "vio" if code != "vio" else "pia") is None


def test_hand_edited_prompt_file_error_names_file_and_line(tmp_path):
    path = tmp_path / "vio.txt"
    path.write_text("A tender violin melody.\nA tender melody without it.\n")
    with pytest.raises(PromptError, match=r"vio\.txt, line 2: .*exactly once"):
        validate_prompt_file(path, "vio")
    path.write_text("A tender violin melody.\nA bright violin tune.\na tender violin melody.\n")
    with pytest.raises(PromptError, match=r"line 3: duplicate of line 1"):
        read_prompts(path, "vio")
    with pytest.raises(PromptError, match="does not exist"):
        read_prompts(tmp_path / "absent.txt", "vio")


def test_make_prompts_offline_writes_sidecar_and_keeps_valid_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    txt, side = tmp_path / "p" / "cel.txt", tmp_path / "p" / "cel.json"
    prompts = make_prompts(txt, side, "cel", n=6, source="auto", seed=3)
    assert txt.read_text().splitlines() == prompts and validate_prompt_file(txt, "cel") == 6
    meta = json.loads(side.read_text())
    assert meta["source"] == "offline" and meta["seed"] == 3 and meta["n"] == 6 and meta["model"] is None
    # a valid existing file is kept, even by hand-edited content, unless forced
    txt.write_text("A slow cello lament.\n" + "\n".join(prompts[1:]) + "\n")
    kept = make_prompts(txt, side, "cel", n=6, source="offline", seed=99)
    assert kept[0] == "A slow cello lament." and txt.read_text().startswith("A slow cello lament.")
    forced = make_prompts(txt, side, "cel", n=6, source="offline", seed=99, force=True)
    assert forced == offline_prompts("cel", 6, seed=99)
    # an invalid existing file is an error, not silently replaced
    txt.write_text("A slow lament.\n")
    with pytest.raises(PromptError, match=r"cel\.txt, line 1"):
        make_prompts(txt, side, "cel", n=6, source="offline")
    assert not list(tmp_path.glob("p/.*tmp"))  # no temp files left


def test_openai_source_without_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(PromptSourceError, match="OPENAI_API_KEY is not set"):
        make_prompts(tmp_path / "a.txt", tmp_path / "a.json", "flu", n=2, source="openai", cache_dir=tmp_path)
    assert not (tmp_path / "a.txt").exists()


def responses_body(text: str, n: int = 1, model: str = "gpt-test") -> dict:
    """A completed Responses API answer (POST /v1/responses) with one assistant message holding ``text``, with
    the fields of the documented response object (the installed client's ``openai.types.responses.Response``)."""
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{n}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "PromptList",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"prompts": {"type": "array", "items": {"type": "string"}}},
                    "required": ["prompts"],
                    "additionalProperties": False,
                },
            }
        },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 123,
        },
        "user": None,
        "metadata": {},
    }


def fake_client(answers):
    """An OpenAI client whose HTTP transport replays ``answers`` (list of prompt lists or status codes)."""
    calls = []

    def handler(request):
        calls.append(json.loads(request.content))
        answer = answers[min(len(calls), len(answers)) - 1]
        if isinstance(answer, int):
            return httpx2.Response(answer, json={"error": {"message": "boom", "type": "server_error"}})
        return httpx2.Response(200, json=responses_body(json.dumps({"prompts": answer}), len(calls)))

    client = openai.OpenAI(
        api_key="sk-test-secret",
        base_url="http://fake/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return client, calls


def test_served_answer_is_the_documented_responses_format():
    """The mock's JSON validates strictly against the client's own pydantic models (nothing required missing,
    no field of the wrong type), and the fields the client reads for ``responses.parse`` are where it reads them."""
    from openai.types.responses import Response, ResponseOutputMessage, ResponseOutputText, ResponseUsage
    from pydantic import ValidationError

    body = responses_body(json.dumps({"prompts": ["A lively flute dance."]}))
    response = Response.model_validate(body)  # recursive: every nested model too
    for model, part in (
        (Response, body),
        (ResponseOutputMessage, body["output"][0]),
        (ResponseOutputText, body["output"][0]["content"][0]),
        (ResponseUsage, body["usage"]),
    ):
        required = {k for k, f in model.model_fields.items() if f.is_required()}
        assert required <= part.keys(), (model.__name__, required - part.keys())
        model.model_validate(part)
    assert response.output_text == body["output"][0]["content"][0]["text"]  # what output_parsed is parsed from
    assert response.status == "completed" and response.usage.total_tokens == 123
    broken = {k: v for k, v in body.items() if k != "output"}
    with pytest.raises(ValidationError, match="output"):  # the check can fail: a missing field is caught
        Response.model_validate(broken)
    # the client itself: parse() sends the schema and reads the answer back through the same models
    client, calls = fake_client([["A lively flute dance."]])
    from pydantic import BaseModel

    class PromptList(BaseModel):
        prompts: list[str]

    parsed = client.responses.parse(model="gpt-test", input="x", text_format=PromptList)
    assert parsed.output_parsed == PromptList(prompts=["A lively flute dance."])
    assert calls[0]["text"]["format"]["name"] == "PromptList"


def test_openai_prompts_structured_output_validated_and_cached(tmp_path, caplog):
    client, calls = fake_client(
        [
            ["A lively flute dance.", "A flute and piano duet.", "A lively flute dance.", "No instrument here."],
            ["A breezy flute melody at dawn.", "A mysterious flute phrase, ambient."],
        ]
    )
    caplog.set_level(logging.INFO, logger="difftone")
    txt, side = tmp_path / "flu.txt", tmp_path / "flu.json"
    prompts = make_prompts(
        txt,
        side,
        "flu",
        n=3,
        source="openai",
        model="gpt-test",
        cache_dir=tmp_path / "cache",
        client=client,
        backoff_s=0.0,
    )
    assert prompts == ["A lively flute dance.", "A breezy flute melody at dawn.", "A mysterious flute phrase, ambient."]
    assert len(calls) == 2 and calls[0]["model"] == "gpt-test"
    assert calls[0]["text"]["format"]["type"] == "json_schema" and calls[0]["text"]["format"]["name"] == "PromptList"
    meta = json.loads(side.read_text())
    assert meta["source"] == "openai" and meta["model"] == "gpt-test"
    cache = tmp_path / "cache" / "openai" / "gpt-test" / "flu.txt"
    assert read_prompts(cache, "flu") == [
        "A lively flute dance.",
        "A breezy flute melody at dawn.",
        "A mysterious flute phrase, ambient.",
    ]
    assert "sk-test-secret" not in caplog.text + side.read_text()
    # a second run with a fresh output but the cache: no API call
    client2, calls2 = fake_client([500])
    again = make_prompts(
        tmp_path / "b.txt",
        tmp_path / "b.json",
        "flu",
        n=3,
        source="openai",
        model="gpt-test",
        cache_dir=tmp_path / "cache",
        client=client2,
    )
    assert again == prompts and calls2 == []


def test_openai_failure_retries_then_errors_and_keeps_cache_and_output(tmp_path):
    txt, side = tmp_path / "tru.txt", tmp_path / "tru.json"
    txt.write_text("A bright trumpet fanfare.\n")
    side.write_text("{}")
    cache = tmp_path / "cache.txt"
    client, calls = fake_client([["A bright trumpet fanfare."], 503])
    waits = []
    with pytest.raises(PromptSourceError, match=r"after 3 retries.*1 of 4 prompts are kept"):
        openai_prompts(
            "tru", 4, model="m", cache_file=cache, client=client, max_retries=3, backoff_s=0.5, sleep=waits.append
        )
    assert len(calls) == 1 + 4 and waits == [0.5, 1.0, 2.0]
    assert read_prompts(cache, "tru") == ["A bright trumpet fanfare."]
    client, _ = fake_client([503])
    with pytest.raises(PromptSourceError):
        make_prompts(
            txt,
            side,
            "tru",
            n=4,
            source="openai",
            model="m",
            cache_dir=tmp_path / "c2",
            client=client,
            max_retries=1,
            backoff_s=0.0,
        )
    assert txt.read_text() == "A bright trumpet fanfare.\n" and side.read_text() == "{}"  # untouched
    # a non-retryable error (bad key) stops at once
    client, calls = fake_client([401])
    with pytest.raises(PromptSourceError, match="AuthenticationError"):
        openai_prompts("tru", 2, model="m", cache_file=tmp_path / "c3.txt", client=client, backoff_s=0.0)
    assert len(calls) == 1


def test_prompts_rule_runs_offline_without_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    (tmp_path / "small.yaml").write_text("prompts:\n  n_per_instrument: 3\n")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "--configfile",
        str(ROOT / "config.yaml"),
        str(tmp_path / "small.yaml"),
        "--",
        "results/prompts/pia.txt",
        "results/prompts/vio.txt",
    ]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert read_prompts(tmp_path / "results/prompts/pia.txt", "pia") == offline_prompts("pia", 3)
    assert json.loads((tmp_path / "results/prompts/vio.json").read_text())["source"] == "offline"
    assert (tmp_path / "results/prompts/cel.txt").is_file()  # one job writes every instrument's prompts
    assert "wrote 3 offline prompts for vio" in (tmp_path / "logs/prompts/make_prompts.log").read_text()
