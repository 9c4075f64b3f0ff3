"""Long documents and odd tokens under PostgreSQL's tsvector limits (16 383 positions, 256 per
lexeme, under 1 MiB): every document is still indexed and found, on both engines; the literal
PostgreSQL is given stays inside the limits."""

from __future__ import annotations

import re

import asyncpg

from app.search._postgres import index_values, pairs_literal, tsvector_literal
from tests.processes import admin_dsn
from tests.search.conftest import AddDocument, Find

_ENTRY = re.compile(r"'((?:[^']|'')*)':(\S+)")


def _positions(literal: str) -> dict[str, list[str]]:
    return {token.replace("''", "'"): spots.split(",") for token, spots in _ENTRY.findall(literal)}


def test_long_body_keeps_postgresql_limits() -> None:
    body = ["common"] * 20_000 + ["late"]  # "late" first appears past position 16 383
    entries = _positions(tsvector_literal(["title"], body))
    assert entries["title"] == ["1A"]
    assert len(entries["common"]) == 256
    assert entries["common"][:2] == ["3B", "4B"]
    assert entries["late"] == ["16383B"]


def test_many_distinct_tokens_stop_under_a_mebibyte() -> None:
    body = ["क" * 60 + str(n) for n in range(15_000)]  # about 2.7 MB of lexemes
    literal = tsvector_literal([], body)
    entries = _positions(literal)
    assert 0 < len(entries) < len(body)
    assert list(entries) == body[: len(entries)]  # the first ones are kept, in order
    assert len(literal.encode()) < 1_000_000
    assert len(pairs_literal([], body).encode()) < 1_000_000


def test_quotes_and_backslashes_are_escaped() -> None:
    assert tsvector_literal(["it's"], ["a\\b"]) == "'it''s':1A 'a\\\\b':3B"
    assert pairs_literal(["it's", "x"], []) == "'it''s x'"
    assert pairs_literal(["a", "b", "a", "b"], ["c"]) == "'a b' 'b a'"


async def test_postgresql_accepts_the_limits(postgres: None) -> None:
    """Against PostgreSQL whichever database the suite runs on (SQLite's index has no such limits)."""
    body = ["common"] * 20_000 + ["late"] + ["क" * 60 + str(n) for n in range(15_000)]
    values = index_values(["title"], body)
    conn = await asyncpg.connect(admin_dsn())
    try:
        lengths = await conn.fetchrow(
            "SELECT length(CAST($1::text AS tsvector)), length(CAST($2::text AS tsvector))",
            values["tsv"],
            values["pairs"],
        )
    finally:
        await conn.close()
    assert lengths[0] == len(_positions(values["tsv"]))
    assert lengths[1] > 0


async def test_word_past_the_last_position_is_found(add_document: AddDocument, find: Find) -> None:
    long_id = await add_document("लामो प्रतिवेदन", " ".join(["भूमि"] * 17_000 + ["ज्वालामुखी"]))
    await add_document("अर्को", "ज्वाला")
    page = await find("ज्वालामुखी")
    assert [hit.document_id for hit in page.hits] == [long_id]
    assert (await find("भूमि")).total == 1
