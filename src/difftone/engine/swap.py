"""The prompt swap: replace the source instrument's word in a prompt by the target's.

Whole words only, case kept ("Piano" -> "Violin", "PIANO" -> "VIOLIN"), multi-word
names and synonyms ("acoustic guitar", "guitar", "sax"), a plural "s" kept, and the
article before it fixed ("a piano" -> "an organ"). A prompt without any word of the
source instrument is an error that names the prompt.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from difftone.instruments import Instrument, resolve


class SwapError(ValueError):
    """A prompt cannot be swapped (no source word) or an instrument is unknown."""


def instrument(name_or_code: str) -> Instrument:
    """:func:`difftone.instruments.resolve`, raising :class:`SwapError` for unknown names."""
    try:
        return resolve(name_or_code)
    except KeyError as exc:
        raise SwapError(exc.args[0]) from None


def source_words(inst: Instrument, extra_synonyms: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Words that name ``inst`` in a prompt, longest first (so "acoustic guitar" wins over "guitar")."""
    words = [inst.name, *inst.synonyms, *((extra_synonyms or {}).get(inst.code, ()))]
    return sorted(dict.fromkeys(w.lower() for w in words), key=lambda w: (-len(w), w))


def _pattern(words: Sequence[str]) -> re.Pattern:
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"(?<!\w)(?P<word>{alternatives})(?P<plural>s?)(?!\w)", re.IGNORECASE)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        if all(part[:1].isupper() for part in template.split()):
            return " ".join(part[:1].upper() + part[1:] for part in word.split())
        return word[:1].upper() + word[1:]
    return word


_ARTICLE = re.compile(r"(?<![\w-])(?P<article>an?)(?P<space>\s+)$", re.IGNORECASE)


def _fix_article(before: str, next_word: str) -> str:
    m = _ARTICLE.search(before)
    if not m:
        return before
    article = "an" if next_word[:1].lower() in "aeiou" else "a"
    old = m.group("article")
    article = article.upper() if old.isupper() and len(old) > 1 else (article.capitalize() if old[0].isupper() else article)
    return before[: m.start("article")] + article + m.group("space")


def swap_instrument(
    prompt: str,
    source: str,
    target: str,
    extra_synonyms: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """``prompt`` with every word naming ``source`` replaced by ``target``'s prompt word.

    ``source``/``target``: IRMAS code, name or synonym. ``extra_synonyms``: more words per
    code (config ``swap.synonyms``). Raises :class:`SwapError` when no source word occurs.
    """
    src, tgt = instrument(source), instrument(target)
    words = source_words(src, extra_synonyms)
    pattern = _pattern(words)
    if not pattern.search(prompt):
        raise SwapError(
            f"prompt {prompt!r} does not contain the source instrument {src.code} "
            f"(looked for the whole words {', '.join(repr(w) for w in words)})"
        )
    out, last = [], 0
    for m in pattern.finditer(prompt):
        replacement = _match_case(m.group("word"), tgt.name) + m.group("plural")
        before = prompt[last : m.start()]
        if not m.group("plural"):
            before = _fix_article(before, replacement)
        out.extend([before, replacement])
        last = m.end()
    out.append(prompt[last:])
    return "".join(out)
