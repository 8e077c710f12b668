"""MusicMagus' caption sets: one file per instrument word, ``results/captions/<code>.txt``, reused by every pair.

The reference (``EmbeddingCalculator``) asks an LLM for 24 captions per word ("Generate one
sentence capturing keywords of {word} music around {L} words"). Here the captions come from
the prompts stage's generators (:func:`difftone.prompts.make_prompts`: OpenAI with its key
from ``OPENAI_API_KEY``, retries and answer cache under ``musicmagus.captions_cache_dir``, or
the offline generator with its own seed), so a caption is a music description naming its
instrument word once, like the reference's. The OpenAI instruction is the prompts stage's, not
the reference's sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from difftone.instruments import resolve
from difftone.prompts import PromptError, make_prompts, read_prompts


class CaptionError(ValueError):
    """A caption file is missing or does not describe its instrument; the message names the file."""


def make_captions(
    out_txt: str | Path,
    out_json: str | Path,
    instrument: str,
    *,
    n: int,
    source: str = "auto",
    seed: int = 0,
    options: Mapping | None = None,
) -> list[str]:
    """``n`` captions of ``instrument`` in ``out_txt`` (+ sidecar); ``options``: the prompts stage's
    OpenAI settings (model, batch_size, temperature, max_retries, backoff_s, cache_dir)."""
    return make_prompts(out_txt, out_json, instrument, n=n, source=source, seed=seed, **dict(options or {}))


def caption_path(captions_dir: str | Path, code: str) -> Path:
    return Path(captions_dir) / f"{resolve(code).code}.txt"


def read_captions(captions_dir: str | Path, codes: Sequence[str]) -> dict[str, list[str]]:
    """Code -> captions of each instrument in ``codes``: every line must name its instrument word
    (``difftone.prompts.read_prompts``: the error names the file and line)."""
    out = {}
    for code in codes:
        path = caption_path(captions_dir, code)
        if not path.is_file():
            raise CaptionError(
                f"{path} does not exist: no captions for {code}; run the captions stage "
                f"(snakemake results/captions/{code}.txt) or add {code} to musicmagus.pairs"
            )
        try:
            out[resolve(code).code] = read_prompts(path, code)
        except PromptError as exc:
            raise CaptionError(f"caption file {exc}; regenerate it (delete it and rerun the captions stage)") from None
    return out
