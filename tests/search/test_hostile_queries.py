"""Any input gives a page of results or InvalidQuery, never a database error, on either engine."""

from __future__ import annotations

import pytest

from app.search import InvalidQuery
from tests.search.conftest import AddDocument, Find

HOSTILE = [
    "%",
    "_",
    "\\",
    '"',
    '""',
    '"काम',
    'काम"',
    '"काम" "',
    "'",
    "काम'; DROP TABLE documents; --",
    "\x00",
    "काम\x00कुम",
    "ा",
    "्",
    "*",
    "**",
    "काम**",
    "*काम",
    "-",
    "--",
    "- -",
    "-काम",
    "NEAR",
    "AND",
    "OR",
    "NOT",
    "NEAR(काम कुम)",
    "काम AND कुम OR NOT",
    "title:काम",
    "{title}: काम",
    "^काम",
    "काम + कुम",
    "काम:*",
    "'काम':A & !कुम",
    "काम <-> कुम",
    "काम | कुम",
    "(",
    ")",
    "a" * 300,
    "काम" * 300,
    "क" * 10_000,
    " ".join(["काम"] * 2000),
    "\ufeff\u200b\u200dकाम",
    "\U0001f600",
]


@pytest.fixture
async def some_documents(add_document: AddDocument) -> None:
    await add_document("काम र कुम", "NEAR AND OR NOT % _ \\ \" ' * - काम कुम")


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:40]))
async def test_hostile_query_gives_results_or_invalid_query(some_documents: None, find: Find, query: str) -> None:
    try:
        page = await find(query)
    except InvalidQuery:
        return

    assert page.total >= 0


@pytest.mark.parametrize("word", ["NEAR", "AND", "OR", "NOT"])
async def test_operator_words_are_searched_as_words(some_documents: None, find: Find, word: str) -> None:
    assert (await find(word)).total == 1
