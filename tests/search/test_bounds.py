"""Bounded memory whatever the text: what the tokenizer remembers stays within a budget of bytes."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator

from app.search import _text, parse_query
from app.search._snippet import snippet
from app.search._text import raw_word_spans, tokens
from tests.texts import distinct_words, spelled

MiB = 1024 * 1024


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
