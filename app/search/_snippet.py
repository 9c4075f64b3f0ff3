"""Snippets and page numbers, by our code for both engines: the original words are shown, matched
on their stems, HTML-escaped, with only our <mark> tags left as markup."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from app.search._query import ParsedQuery, Term
from app.search._text import RAW_WORD_CHAR, raw_word_spans, tokens

SNIPPET_CHARS = 160
_LEAD_CHARS = 50


def _token_matches(stem: str, wanted: str, *, prefix: bool) -> bool:
    return stem.startswith(wanted) if prefix else stem == wanted


def _occurrences(stems: list[str], term: Term) -> int:
    """How often the term's tokens stand next to each other in `stems`."""
    n, last = len(term.tokens), len(term.tokens) - 1
    count = 0
    for start in range(len(stems) - n + 1):
        if all(
            _token_matches(stems[start + i], token, prefix=term.prefix and i == last)
            for i, token in enumerate(term.tokens)
        ):
            count += 1
    return count


def _section_score(text: str, query: ParsedQuery) -> tuple[int, int]:
    """(how many required terms occur, how many occurrences in all)."""
    stems = tokens(text)
    counts = [_occurrences(stems, term) for term in query.required]
    return sum(1 for c in counts if c), sum(counts)


def best_page(content: str, pages: list[tuple[int, str]], query: ParsedQuery) -> int | None:
    """The OCR page that matches as many terms as the best of all sections, else None (content).

    After OCR the content is the pages joined, so content alone never decides: a page that holds
    as many of the terms as the content does is the more precise answer.
    """
    best: tuple[int, int, int] | None = None
    for number, text in pages:
        terms, hits = _section_score(text, query)
        if terms and (best is None or (terms, hits) > best[:2]):
            best = (terms, hits, number)
    if best is None:
        return None
    content_terms, _ = _section_score(content, query)
    return best[2] if best[0] >= content_terms else None


def _highlighter(query: ParsedQuery) -> Callable[[tuple[str, ...]], bool]:
    """Whether a word's stems are one of the query's tokens (or start with one of its prefixes)."""
    exact = {t for term in query.required for t in (term.tokens[:-1] if term.prefix else term.tokens)}
    prefixes = tuple(term.tokens[-1] for term in query.required if term.prefix)
    return lambda stems: any(stem in exact or stem.startswith(prefixes) for stem in stems)


_JOINER = "[\u200c\u200d]?"


def _char_pattern(char: str) -> str:
    if char.isascii() and char.isdigit():  # the text may write it in Devanagari
        return f"[{char}{chr(0x0966 + int(char))}]"
    return re.escape(char)


def _hint(query: ParsedQuery) -> re.Pattern[str] | None:
    """Where a match could begin: the first two characters of a wanted token (a stem keeps its
    word's first characters). Only to skip the words before it without stemming each one."""
    heads = {t[:2] for term in query.required for t in term.tokens if t}
    if not heads:
        return None
    return re.compile("|".join(_JOINER.join(_char_pattern(c) for c in head) for head in heads), re.IGNORECASE)


def _scan_start(text: str, query: ParsedQuery) -> int:
    """The start of the word holding the first possible match (0 when there is no hint)."""
    hint = _hint(query)
    found = hint.search(text) if hint else None
    if found is None:
        return 0
    start = found.start()
    while start and RAW_WORD_CHAR.match(text, start - 1):
        start -= 1
    return start


def _window(text: str, first: int) -> tuple[int, int]:
    """About SNIPPET_CHARS from a little before `first`, cut at spaces where there are some."""
    start = max(0, first - _LEAD_CHARS)
    if start:
        space = text.rfind(" ", max(0, start - 20), first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", max(first, end - 30), end)
        end = space if space > first else end
    return start, end


def snippet(text: str, query: ParsedQuery) -> str:
    """About SNIPPET_CHARS of `text` around its first match, escaped, matches in <mark>."""
    is_highlighted = _highlighter(query)
    marks: list[tuple[int, int]] = []
    for s, e, stems in raw_word_spans(text, _scan_start(text, query)):  # to the first match
        if is_highlighted(stems):
            marks.append((s, e))
            break
    start, end = _window(text, marks[0][0] if marks else 0)
    for s, e, stems in raw_word_spans(text, marks[0][1] if marks else 0):
        if e > end:  # a mark cut by the window's edge would be half a word
            break
        if is_highlighted(stems):
            marks.append((s, e))
    out: list[str] = ["…" if start else ""]
    cursor = start
    for s, e in marks:
        out += [escape(text[cursor:s]), "<mark>", escape(text[s:e]), "</mark>"]
        cursor = e
    out += [escape(text[cursor:end]), "…" if end < len(text) else ""]
    return " ".join("".join(out).split())
