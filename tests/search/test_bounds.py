"""Bounded work and memory whatever the text: a snippet and a page number read a bounded part of
a hit, and what the tokenizer remembers stays within a budget of bytes."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from app.search import _text, parse_query
from app.search._snippet import best_page, snippet
from app.search._text import raw_word_spans, tokens
from tests.texts import distinct_words, spelled, text_of

MiB = 1024 * 1024


@pytest.fixture
def tokenized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the tokenizer splits into words from now on."""
    found: list[int] = []
    words = _text.words

    def counted(normalized: str) -> list[str]:
        found.append(len(normalized))
        return words(normalized)

    monkeypatch.setattr(_text, "words", counted)
    return found


def test_a_snippet_of_a_long_text_without_the_word_reads_a_bounded_part(tokenized: list[int]) -> None:
    # Every tenth word could begin the word asked for (जन…), none is it.
    text = text_of(5 * MiB, seed=1, every_tenth="जन")
    result = snippet(text, parse_query("जनता"))
    assert sum(tokenized) < 64 * 1024
    assert "<mark>" not in result and result.startswith(text[:40])


def test_a_snippet_of_a_long_text_finds_an_early_match_reading_a_bounded_part(tokenized: list[int]) -> None:
    text = text_of(5 * MiB, seed=2, every_tenth="जन")
    text = text[:3000] + " जनताको " + text[3000:]
    result = snippet(text, parse_query("जनता"))
    assert "<mark>जनताको</mark>" in result
    assert sum(tokenized) < 64 * 1024


def test_the_page_of_a_long_scan_is_chosen_reading_a_bounded_part(tokenized: list[int]) -> None:
    pages = [(n, text_of(10_000, seed=n, every_tenth="जन")) for n in range(1, 501)]  # 5 MB in all
    pages[1] = (2, pages[1][1][:5000] + " जनताको " + pages[1][1][5000:])
    content = "\n\n".join(text for _, text in pages)
    assert best_page(content, pages, parse_query("जनता")) == 2
    assert sum(tokenized) < 64 * 1024


def _kept_after(work: Callable[[], None]) -> int:
    """Bytes still allocated after `work` and a collection, beyond what was before."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_giant_words_are_not_remembered() -> None:
    query = parse_query("जनता")

    def search_giant_words() -> None:
        for n in range(100):
            text = f"जनता {spelled(n) * 20_000} जनता"  # a "word" of 40 000 to 80 000 characters
            snippet(text, query)
            tokens(text)
            list(raw_word_spans(text))

    assert _kept_after(search_giant_words) < MiB


def _long_words(count: int) -> Iterator[str]:
    """Different words of 64 characters, the longest a token is."""
    for word in distinct_words(count, seed=3):
        yield (word + "कि" * 40)[:64]


def test_what_the_tokenizer_remembers_stays_within_its_budget() -> None:
    def meet_many_words() -> None:
        for word in _long_words(30_000):
            list(raw_word_spans(word))  # its stems, its piece's and its raw word's

    kept = _kept_after(meet_many_words)
    assert kept < 16 * MiB  # the memos' budgets (14 MiB in all) and some slack
    assert sum(memo.max_bytes for memo in _text.MEMOS) == 14 * MiB
    for memo in _text.MEMOS:
        assert memo.bytes() <= memo.max_bytes
