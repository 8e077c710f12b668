"""The prompt swap: replace the source instrument's word in a prompt by the target's.

Whole words only, case kept ("Piano" -> "Violin", "PIANO" -> "VIOLIN"), multi-word
names and synonyms ("acoustic guitar", "guitar", "sax"), a plural "s" kept, and the
article before it fixed ("a piano" -> "an organ"). A prompt without any word of the
source instrument is an error that names the prompt. Several words of one prompt swap at
once with :func:`swap_instruments` ("piano and trumpet" -> "organ and saxophone").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

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
    article = (
        article.upper() if old.isupper() and len(old) > 1 else (article.capitalize() if old[0].isupper() else article)
    )
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
    return swap_instruments(prompt, [(source, target)], extra_synonyms)


def check_word_swaps(pairs: Sequence[tuple[str, str]]) -> list[tuple[Instrument, Instrument]]:
    """The (source, target) instruments of several word swaps in one prompt; :class:`SwapError` for an unknown
    instrument, an instrument named twice among the sources (or the targets), or a pair that swaps a word for itself."""
    resolved = [(instrument(s), instrument(t)) for s, t in pairs]
    if not resolved:
        raise SwapError("no instrument swap given: name at least one source and one target instrument")
    for side, index in (("source", 0), ("target", 1)):
        codes = [pair[index].code for pair in resolved]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise SwapError(
                f"the {side} instruments name {', '.join(twice)} twice; each instrument may be a {side} once"
            )
    for src, tgt in resolved:
        if src.code == tgt.code:
            raise SwapError(f"source and target are the same instrument ({src.code})")
    return resolved


def swap_instruments(
    prompt: str,
    pairs: Sequence[tuple[str, str]],
    extra_synonyms: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """``prompt`` with the words of every ``(source, target)`` pair swapped at once, on the original prompt
    (so "piano and trumpet" -> "trumpet and piano" works). Each source must occur (:class:`SwapError` naming
    the prompt and the words looked for); a word that could name two of the sources (a bare "guitar" when
    both guitars are swapped) is ambiguous and an error; see :func:`check_word_swaps` for the other checks."""
    resolved = check_word_swaps(pairs)
    owner: dict[str, list[str]] = {}
    for src, _ in resolved:
        words = source_words(src, extra_synonyms)
        if not _pattern(words).search(prompt):
            raise SwapError(
                f"prompt {prompt!r} does not contain the source instrument {src.code} "
                f"(looked for the whole words {', '.join(repr(w) for w in words)})"
            )
        for w in words:
            owner.setdefault(w, []).append(src.code)
    target_of = {src.code: tgt for src, tgt in resolved}
    pattern = _pattern(sorted(owner, key=lambda w: (-len(w), w)))
    out, last = [], 0
    for m in pattern.finditer(prompt):
        word = " ".join(m.group("word").lower().split())
        codes = owner[word]
        if len(codes) > 1:
            raise SwapError(
                f"prompt {prompt!r}: the word {m.group('word')!r} could name {' or '.join(codes)}; "
                "name the instrument in full (e.g. 'acoustic guitar')"
            )
        replacement = _match_case(m.group("word"), target_of[codes[0]].name) + m.group("plural")
        before = prompt[last : m.start()]
        if not m.group("plural"):
            before = _fix_article(before, replacement)
        out.extend([before, replacement])
        last = m.end()
    out.append(prompt[last:])
    return "".join(out)
