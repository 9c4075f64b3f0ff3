"""Snippets and page numbers, by our code for both engines: the original words are shown, matched
on their stems, HTML-escaped, with only our <mark> tags left as markup."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from itertools import islice

from app.search._query import ParsedQuery, Term
from app.search._text import RAW_WORD_CHAR, raw_word_spans, tokens

Pages = list[tuple[int, str]]  # (number, text) of a document's OCR pages, in order
SNIPPET_CHARS = 160
_LEAD_CHARS = 50
# Of each section of a hit (its content, each OCR page), only the start is read for its snippet
# and page number: a match further into a long document is found by the search, not shown.
SOURCE_CHARS = 64 * 1024
# Words where the query's hint matches, checked for a match: at most this many per hit.
_CANDIDATES = 512
# From a section's first match on, how much of it counts for its score (`best_page`), and how
# many sections are scored: a document of hundreds of pages is scored on the first that match.
_SCORED_CHARS = 2 * 1024
_SCORED_SECTIONS = 8


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
    word's first characters). Only words where it matches are stemmed to look for a match."""
    heads = {t[:2] for term in query.required for t in term.tokens if t}
    if not heads:
        return None
    return re.compile("|".join(_JOINER.join(_char_pattern(c) for c in head) for head in heads), re.IGNORECASE)


_RAW_WORD = re.compile(RAW_WORD_CHAR.pattern + "+")


class _Matcher:
    """What a query looks for in a hit's texts, with a budget of words to check (_CANDIDATES)."""

    def __init__(self, query: ParsedQuery) -> None:
        self.query, self.hint, self.is_highlighted = query, _hint(query), _highlighter(query)
        self.candidates_left = _CANDIDATES

    def first_match(self, text: str) -> tuple[int, int] | None:
        """The first highlighted word among the first SOURCE_CHARS of `text` (its offsets), looked
        for only at words where the hint matches (or, without a hint, the first words), while
        the budget lasts; None if none is found."""
        end = min(len(text), SOURCE_CHARS)
        if self.hint is None:
            for s, e, stems in islice(raw_word_spans(text, 0, end), self.candidates_left):
                self.candidates_left -= 1
                if self.is_highlighted(stems):
                    return s, e
            return None
        # The text read backwards, once: the start of the word around a hint is one match away.
        backwards = text[end - 1 :: -1] if end else ""
        checked_to = 0
        for hint in self.hint.finditer(text, 0, end):
            if self.candidates_left <= 0:
                return None
            if hint.start() < checked_to:
                continue  # inside a word already checked
            before = _RAW_WORD.match(backwards, end - hint.start())
            start = hint.start() - (before.end() - before.start() if before else 0)
            self.candidates_left -= 1
            for s, e, stems in raw_word_spans(text, start, end):
                if self.is_highlighted(stems):
                    return s, e
                checked_to = e
                break
        return None

    def score(self, text: str) -> tuple[int, int] | None:
        """(how many required terms occur, how many occurrences in all), counted over
        _SCORED_CHARS from the first match on; None without a match."""
        first = self.first_match(text)
        if first is None:
            return None
        stems = tokens(text[first[0] : first[0] + _SCORED_CHARS])
        counts = [_occurrences(stems, term) for term in self.query.required]
        return sum(1 for c in counts if c), sum(counts)


def best_page(content: str, pages: Pages, query: ParsedQuery) -> int | None:
    """The OCR page that matches as many terms as the best of all sections, else None (content).

    After OCR the content is the pages joined, so content alone never decides: a page that holds
    as many of the terms as the content does is the more precise answer. The first
    _SCORED_SECTIONS pages with a match are scored, each from its first match on.
    """
    matcher = _Matcher(query)
    best: tuple[int, int, int] | None = None
    scored = 0
    for number, text in pages:
        found = matcher.score(text)
        if found is None:
            continue
        if found[0] and (best is None or found > best[:2]):
            best = (*found, number)
        scored += 1
        if scored == _SCORED_SECTIONS:
            break
    if best is None:
        return None
    in_content = matcher.score(content)
    return best[2] if in_content is None or best[0] >= in_content[0] else None


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
    matcher = _Matcher(query)
    first = matcher.first_match(text)
    marks = [first] if first else []
    start, end = _window(text, first[0] if first else 0)
    # One character past the window: a word cut by its edge would be half a word, left unmarked.
    for s, e, stems in raw_word_spans(text, first[1] if first else 0, min(len(text), end + 1)):
        if e > end:
            break
        if matcher.is_highlighted(stems):
            marks.append((s, e))
    out: list[str] = ["…" if start else ""]
    cursor = start
    for s, e in marks:
        out += [escape(text[cursor:s]), "<mark>", escape(text[s:e]), "</mark>"]
        cursor = e
    out += [escape(text[cursor:end]), "…" if end < len(text) else ""]
    return " ".join("".join(out).split())


def snippet_and_page(title: str, content: str, pages: Pages, query: ParsedQuery) -> tuple[str, int | None]:
    """A hit's snippet and page: from its best OCR page, else its content, else its title."""
    page = best_page(content, pages, query)
    source = dict(pages)[page] if page is not None else content or title
    return snippet(source, query), page


def snippets_and_pages(hits: list[tuple[str, str, Pages]], query: ParsedQuery) -> list[tuple[str, int | None]]:
    """`snippet_and_page` of each (title, content, pages)."""
    return [snippet_and_page(title, content, pages, query) for title, content, pages in hits]
