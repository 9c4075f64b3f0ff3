"""Large documents do not hold up other requests: their text is tokenized off the event loop
(creates, edits, searches)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from app.search import _text
from tests.texts import text_of

DOCS = "/api/v1/documents"
MiB = 1024 * 1024
# What the event loop may tokenize of a request at most: a title, a query, a snippet's window.
ON_THE_LOOP = 64 * 1024

pytestmark = pytest.mark.usefixtures("alice")


@pytest.fixture
def on_this_thread(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text split into words on this thread (the test's event loop) from now on."""
    found: list[int] = []
    loop_thread = threading.get_ident()
    words = _text.words

    def counted(normalized: str) -> list[str]:
        if threading.get_ident() == loop_thread:
            found.append(len(normalized))
        return words(normalized)

    monkeypatch.setattr(_text, "words", counted)
    return found


def _large(seed: int, first_word: str = "", every_tenth: str = "") -> str:
    """Just under 5 MiB of UTF-8 (the most a document holds), from `first_word` on."""
    return first_word + " " + text_of(5 * MiB // 3 - 100, seed=seed, every_tenth=every_tenth)


async def _hits(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/search", params={"q": query})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_large_document_is_indexed_off_the_event_loop(
    client: httpx.AsyncClient, on_this_thread: list[int]
) -> None:
    created = await client.post(DOCS, json={"title": "ठूलो", "content": _large(1, "पहिलोसुरु")})
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    edited = await client.patch(f"{DOCS}/{document_id}", json={"content": _large(2, "दोस्रोसुरु")})
    assert edited.status_code == 200, edited.text

    assert sum(on_this_thread) < ON_THE_LOOP
    # Indexed all the same, as edited.
    assert [hit["document"]["id"] for hit in await _hits(client, "दोस्रोसुरु")] == [document_id]
    assert await _hits(client, "पहिलोसुरु") == []


async def test_a_search_hitting_large_documents_makes_their_snippets_off_the_event_loop(
    client: httpx.AsyncClient, on_this_thread: list[int]
) -> None:
    for seed in (3, 4, 5):
        # Found by its title; in its content, every tenth word could begin the word (जन…), none is it.
        content = _large(seed, every_tenth="जन")
        created = await client.post(DOCS, json={"title": "जनता प्रतिवेदन", "content": content})
        assert created.status_code == 201, created.text
    on_this_thread.clear()

    hits = await _hits(client, "जनता")

    assert len(hits) == 3
    assert sum(on_this_thread) < ON_THE_LOOP
