"""One rule for a document's index values, run in two places: inline for small text (the common
case: no round trip to a worker), in the worker process for large text; both give the same values."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from app.search import _offload, index_values, make_index_values
from tests.texts import text_of

LARGE = _offload.INLINE_MAX_CHARS + 1


async def test_large_text_runs_in_another_process() -> None:
    assert await _offload.run(os.getpid, size=LARGE) != os.getpid()
    assert await _offload.run(os.getpid, size=LARGE - 1) == os.getpid()


async def test_a_worker_that_died_is_replaced() -> None:
    first = await _offload.run(os.getpid, size=LARGE)
    os.kill(first, signal.SIGKILL)

    second = await _offload.run(os.getpid, size=LARGE)

    assert second not in (first, os.getpid())


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_the_worker_and_inline_give_the_same_index_values(dialect: str) -> None:
    title = "आर्थिक वर्ष २०८१/८२ को बजेट"
    content = text_of(LARGE + 5000, seed=7) + " काठमाडौंमा Reports RUNNING"
    pages = [(1, "पहिलो पृष्ठ"), (2, content[:3000])]  # page 2 is in the content: indexed once

    inline = make_index_values(dialect, title, content, pages)
    in_worker = await _offload.run(make_index_values, dialect, title, content, pages, size=LARGE)
    through_the_face = await index_values(dialect, title=title, content=content, pages=pages)

    assert in_worker == inline == through_the_face
    assert "पहिलो" in (inline["body"] if dialect == "sqlite" else inline["tsv"])


@pytest.mark.usefixtures("alice")
async def test_small_documents_are_indexed_inline(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_worker() -> None:
        raise AssertionError("small text went to the worker")

    monkeypatch.setattr(_offload, "_worker", no_worker)
    created = await client.post("/api/v1/documents", json={"title": "सानो", "content": "काठमाडौंमा बजेट " * 2000})
    assert created.status_code == 201, created.text
    edited = await client.patch(f"/api/v1/documents/{created.json()['id']}", json={"content": "पोखराको बजेट"})
    assert edited.status_code == 200, edited.text
    assert len((await client.get("/api/v1/search", params={"q": "पोखरा"})).json()["items"]) == 1
