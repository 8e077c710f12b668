"""Text prompts per instrument: OpenAI structured output, or a deterministic offline generator.

Output of the prompts stage: ``results/prompts/<code>.txt`` (one prompt per line)
and a sidecar ``results/prompts/<code>.json`` recording the source (``openai`` or
``offline``), model, seed, count and creation time.

A valid prompt names its instrument's prompt word (``difftone.instruments``, e.g.
"acoustic guitar") exactly once, as whole words, case-insensitive, and names no
other instrument: the edit swaps that one word for the target's.

OpenAI: ``openai.OpenAI()`` reads ``OPENAI_API_KEY`` from the job's environment
(never from config, params or logs). Prompts come from the Responses API with a
pydantic ``PromptList`` as structured output, are validated and deduplicated, and
are accumulated in a cache file (``<cache_dir>/openai/<model>/<code>.txt``)
after every successful call, so a failure after retries keeps what was already
paid for and a rerun asks only for the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from difftone.files import atomic_path
from difftone.instruments import INSTRUMENTS, Instrument, resolve

log = logging.getLogger(__name__)

SOURCES = ("auto", "offline", "openai")
KEY_ENV = "OPENAI_API_KEY"


class PromptError(ValueError):
    """A prompt file or a generated prompt is invalid."""


class PromptSourceError(RuntimeError):
    """The OpenAI API failed after retries, or no key is available."""


class PromptList(BaseModel):
    """Text prompts for a text-to-music model, one solo instrumental piece each."""

    prompts: list[str]


# ---------------------------------------------------------------------------------------------
# validation


def _word_pattern(words: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + r"\s+".join(map(re.escape, words.split())) + r"(?![\w-])", re.IGNORECASE)


def prompt_problem(prompt: str, instrument: str | Instrument) -> str | None:
    """Why ``prompt`` is not a valid prompt for ``instrument``, or None when it is."""
    inst = instrument if isinstance(instrument, Instrument) else resolve(instrument)
    text = prompt.strip()
    if not text:
        return "the line is empty"
    count = len(_word_pattern(inst.name).findall(text))
    if count != 1:
        return f"it names {inst.name!r} {count} times; it must name it exactly once"
    rest = _word_pattern(inst.name).sub(" ", text)
    for other in INSTRUMENTS.values():
        if other.code == inst.code:
            continue
        for word in (other.name, *other.synonyms):
            if _word_pattern(word).search(rest):
                return f"it also names another instrument ({word!r})"
    return None


def read_prompts(path: str | Path, instrument: str | Instrument) -> list[str]:
    """The prompts of a prompt file, validated; errors name the file and 1-based line."""
    path = Path(path)
    inst = instrument if isinstance(instrument, Instrument) else resolve(instrument)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PromptError(f"prompt file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise PromptError(f"prompt file {path} is not UTF-8 text: {exc}") from None
    prompts, seen = [], {}
    for no, line in enumerate(lines, start=1):
        problem = prompt_problem(line, inst)
        if problem:
            raise PromptError(f"{path}, line {no}: {problem} (prompt: {line.strip()!r}); fix or delete the line")
        key = line.strip().lower()
        if key in seen:
            raise PromptError(f"{path}, line {no}: duplicate of line {seen[key]}; delete one of them")
        seen[key] = no
        prompts.append(line.strip())
    if not prompts:
        raise PromptError(f"prompt file {path} has no prompts")
    return prompts


def validate_prompt_file(path: str | Path, instrument: str | Instrument) -> int:
    """Check a prompt file (:func:`read_prompts`); return its number of prompts."""
    return len(read_prompts(path, instrument))


def _write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# offline generator

TEMPLATES = (
    "A {adj} {inst} melody, {genre} style, {mood}.",
    "Solo {inst} playing a {adj} {genre} phrase, {mood}.",
    "A {mood} {genre} piece performed on a {adj} {inst}.",
    "{Adj} {inst} solo in a {genre} mood, {mood}.",
    "A {adj} and {mood} {inst} line with a {genre} feel.",
    "An instrumental {genre} recording of a {adj} {inst}, {mood}.",
    "A {adj} {inst} improvisation, {genre}, {mood}.",
    "A slow, {mood} {genre} tune played by a {adj} {inst}.",
)
ADJECTIVES = (
    "soft",
    "bright",
    "warm",
    "gentle",
    "expressive",
    "lively",
    "mellow",
    "delicate",
    "bold",
    "lyrical",
    "smooth",
    "dynamic",
)
GENRES = (
    "classical",
    "jazz",
    "folk",
    "blues",
    "pop",
    "ambient",
    "baroque",
    "latin",
    "cinematic",
    "country",
    "funk",
    "romantic",
)
MOODS = (
    "calm and relaxing",
    "joyful",
    "melancholic",
    "dreamy",
    "energetic",
    "nostalgic",
    "playful",
    "tender",
    "uplifting",
    "mysterious",
    "peaceful",
    "passionate",
)


def offline_prompts(instrument: str | Instrument, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct valid prompts for ``instrument``, the same for the same (instrument, seed)."""
    inst = instrument if isinstance(instrument, Instrument) else resolve(instrument)
    total = len(TEMPLATES) * len(ADJECTIVES) * len(GENRES) * len(MOODS)
    if not 1 <= n <= total:
        raise PromptError(f"the offline generator makes between 1 and {total} prompts per instrument, not {n}")
    digest = hashlib.sha256(f"{seed}:{inst.code}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    prompts, seen = [], set()
    for flat in rng.sample(range(total), total):
        t, rest = divmod(flat, len(ADJECTIVES) * len(GENRES) * len(MOODS))
        a, rest = divmod(rest, len(GENRES) * len(MOODS))
        g, m = divmod(rest, len(MOODS))
        adj = ADJECTIVES[a]
        text = TEMPLATES[t].format(inst=inst.name, adj=adj, Adj=adj.capitalize(), genre=GENRES[g], mood=MOODS[m])
        text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)  # "a ambient" -> "an ambient"
        if text.lower() in seen or prompt_problem(text, inst):
            continue
        seen.add(text.lower())
        prompts.append(text)
        if len(prompts) == n:
            return prompts
    raise PromptError(f"the offline generator could not make {n} valid prompts for {inst.name!r}")


# ---------------------------------------------------------------------------------------------
# OpenAI


def _instructions(inst: Instrument, n: int, exclude: list[str]) -> str:
    text = (
        f"Write {n} distinct short text prompts (8 to 20 words) for a text-to-music model, each describing a "
        f"solo instrumental piece played by a {inst.name}. Each prompt must contain the exact words "
        f"'{inst.name}' exactly once and must not mention any other instrument, voice or singing. Vary "
        f"the mood, tempo, genre, dynamics and playing style. Example: 'A soft and elegant {inst.name} legato note.'"
    )
    if exclude:
        text += " Do not repeat any of these: " + " | ".join(exclude[-50:])
    return text


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


def openai_prompts(
    instrument: str | Instrument,
    n: int,
    *,
    model: str,
    cache_file: str | Path,
    client=None,
    batch_size: int = 25,
    temperature: float = 1.0,
    max_retries: int = 5,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """``n`` valid, distinct prompts from the OpenAI API, accumulated in ``cache_file``.

    Transient failures (connection, timeout, 429, 5xx) and answers with too few
    valid prompts are retried with exponential backoff (``backoff_s * 2**k``, at
    most ``max_retries`` retries in a row); then :class:`PromptSourceError`. The
    cache keeps every valid prompt received so far, whatever happens.
    """
    import openai

    inst = instrument if isinstance(instrument, Instrument) else resolve(instrument)
    cache_file = Path(cache_file)
    prompts = read_prompts(cache_file, inst) if cache_file.exists() else []
    if len(prompts) >= n:
        log.info("prompts for %s: %d cached in %s, no API call", inst.code, len(prompts), cache_file)
        return prompts[:n]
    if client is None:
        if not os.environ.get(KEY_ENV):
            raise PromptSourceError(
                f"prompts.source is 'openai' but {KEY_ENV} is not set in the job's environment; export it "
                f"or set prompts.source: offline"
            )
        client = openai.OpenAI(max_retries=0)  # retries are ours, below
    seen = {p.lower() for p in prompts}
    failures = 0
    while len(prompts) < n:
        want = min(batch_size, n - len(prompts))
        try:
            response = client.responses.parse(
                model=model,
                input=_instructions(inst, want, prompts),
                text_format=PromptList,
                temperature=temperature,
            )
            received = response.output_parsed.prompts if response.output_parsed else []
        except Exception as exc:  # decide below whether it is worth another try
            if not isinstance(exc, openai.OpenAIError) or not (
                _retryable(exc) or isinstance(exc, openai.APIResponseValidationError)
            ):
                raise PromptSourceError(
                    f"OpenAI API call for {inst.code} prompts failed ({type(exc).__name__}: {exc}); "
                    f"{len(prompts)} prompts kept in {cache_file}"
                ) from None
            received, error = [], f"{type(exc).__name__}: {exc}"
        else:
            error = None
        new = []
        for p in received:
            p = " ".join(p.split())
            if p.lower() in seen:
                continue
            problem = prompt_problem(p, inst)
            if problem:
                log.info("dropped an invalid %s prompt (%s): %r", inst.code, problem, p)
                continue
            seen.add(p.lower())
            new.append(p)
        if new:
            prompts += new
            _write_atomic(cache_file, "\n".join(prompts) + "\n")
            log.info("prompts for %s: %d/%d (model %s)", inst.code, len(prompts), n, model)
            failures = 0
            continue
        failures += 1
        if failures > max_retries:
            raise PromptSourceError(
                f"OpenAI API gave no new valid {inst.code} prompts after {max_retries} retries "
                f"(last error: {error or 'no valid prompts in the answer'}); {len(prompts)} of {n} prompts are "
                f"kept in {cache_file} and a rerun asks only for the rest"
            )
        wait = backoff_s * 2 ** (failures - 1)
        log.warning(
            "OpenAI call for %s prompts failed (%s); retry %d/%d in %.1f s",
            inst.code,
            error or "no new valid prompts",
            failures,
            max_retries,
            wait,
        )
        sleep(wait)
    return prompts[:n]


# ---------------------------------------------------------------------------------------------
# the stage


def resolve_source(source: str) -> str:
    """``auto`` -> ``openai`` when OPENAI_API_KEY is set, else ``offline``."""
    if source not in SOURCES:
        raise PromptError(f"prompts.source must be one of {SOURCES}, not {source!r}")
    if source == "auto":
        return "openai" if os.environ.get(KEY_ENV) else "offline"
    return source


def make_prompts(
    out_txt: str | Path,
    out_json: str | Path,
    instrument: str,
    *,
    n: int,
    source: str = "auto",
    seed: int = 0,
    model: str = "gpt-4o-mini",
    cache_dir: str | Path = "resources/prompts",
    batch_size: int = 25,
    temperature: float = 1.0,
    max_retries: int = 5,
    backoff_s: float = 2.0,
    force: bool = False,
    client=None,
) -> list[str]:
    """Write ``out_txt`` (``n`` prompts) and its sidecar ``out_json``; return the prompts.

    An existing valid ``out_txt`` with ``n`` prompts and its sidecar is kept as it
    is unless ``force``; an invalid one is an error naming file and line.
    """
    inst = resolve(instrument)
    out_txt, out_json = Path(out_txt), Path(out_json)
    if out_txt.exists() and out_json.exists() and not force:
        prompts = read_prompts(out_txt, inst)
        if len(prompts) == n:
            log.info("%s is valid with %d prompts; kept (force to regenerate)", out_txt, n)
            return prompts
        log.info("%s has %d prompts, %d wanted: regenerating", out_txt, len(prompts), n)
    actual = resolve_source(source)
    if actual == "openai":
        cache = Path(cache_dir) / "openai" / re.sub(r"[^\w.-]", "_", model) / f"{inst.code}.txt"
        prompts = openai_prompts(
            inst,
            n,
            model=model,
            cache_file=cache,
            client=client,
            batch_size=batch_size,
            temperature=temperature,
            max_retries=max_retries,
            backoff_s=backoff_s,
        )
    else:
        prompts = offline_prompts(inst, n, seed)
    sidecar = {
        "instrument": inst.code,
        "word": inst.name,
        "n": len(prompts),
        "source": actual,
        "model": model if actual == "openai" else None,
        "seed": seed if actual == "offline" else None,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write_atomic(out_txt, "\n".join(prompts) + "\n")
    _write_atomic(out_json, json.dumps(sidecar, indent=2) + "\n")
    log.info("wrote %d %s prompts for %s to %s", len(prompts), actual, inst.code, out_txt)
    return prompts
