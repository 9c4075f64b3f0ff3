"""A read never depends on a write: `GET /documents/{id}` answers while SQLite's write lock is held
by someone else, and notes the view ("recent" and `document.view`) after its answer, best effort.

Both the direct route and FastAPI's, on a SQLite database of their own (the lock under test is
SQLite's), whichever database the rest of the suite runs on.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.api.direct_routes import DirectRoutesMiddleware
from app.db.migrate import upgrade_to_head
from app.services import document_reads
from app.services.best_effort import BestEffort
from main import create_app
from tests.conftest import SignUp, make_settings

DOCS = "/api/v1/documents"


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process's writer, as SQLite sees it: BEGIN IMMEDIATE on a connection of its own."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


def count(path: Path, table: str, where: str = "1") -> int:
    """Rows, read as SQLite's readers read them during a write (WAL: without waiting)."""
    with sqlite3.connect(path) as reader:
        return reader.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: S608  # the test's own names


class Answer:
    """One GET straight into the ASGI app: its response as soon as it is sent (`sent`), and the
    app's call, which goes on after it (`done`)."""

    def __init__(self, app: FastAPI, path: str, cookie: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.sent = asyncio.Event()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.done = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if not self.messages:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def _send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.sent.set()

    async def response(self) -> tuple[int, bytes]:
        """Once sent: the status and the body (or the app's error, had it none)."""
        await asyncio.wait({self.done, asyncio.ensure_future(self.sent.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if not self.sent.is_set():
            self.done.result()
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return start["status"], b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")


@pytest.fixture(params=["direct", "fastapi"])
def layer(request: pytest.FixtureRequest) -> str:
    """The app as served (with its direct routes), or without them (FastAPI answers)."""
    return request.param


@asynccontextmanager
async def sqlite_app(tmp_path: Path, layer: str, *, write_wait_ms: int) -> AsyncIterator[tuple[FastAPI, Path]]:
    """The app on a migrated SQLite file whose writers give up on another process's lock after
    100 ms, and on their turn after `write_wait_ms`."""
    path = tmp_path / "reads.db"
    settings = make_settings(
        f"sqlite:///{path}", tmp_path, sqlite_busy_timeout_ms=100, sqlite_write_wait_ms=write_wait_ms
    )
    await asyncio.to_thread(upgrade_to_head, settings)
    app = create_app(settings)
    if layer == "fastapi":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectRoutesMiddleware]
    async with LifespanManager(app):
        yield app, path


async def _document_and_cookie(app: FastAPI, sign_up: SignUp, title: str = "पढ्ने") -> tuple[str, str]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await sign_up(client)
        created = await client.post(DOCS, json={"title": title, "content": "content"})
        assert created.status_code == 201, created.text
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        return created.json()["id"], cookie


async def test_a_document_is_read_while_another_process_holds_the_write_lock(
    tmp_path: Path, layer: str, sign_up: SignUp
) -> None:
    async with sqlite_app(tmp_path, layer, write_wait_ms=60_000) as (app, path):
        await _read_during_the_lock_then_note_the_view(app, path, sign_up)


async def _read_during_the_lock_then_note_the_view(app: FastAPI, path: Path, sign_up: SignUp) -> None:
    document_id, cookie = await _document_and_cookie(app, sign_up)
    with write_lock_held(path):
        answer = Answer(app, f"{DOCS}/{document_id}", cookie)
        status, body = await answer.response()
        assert status == 200, body
        assert httpx.Response(200, content=body).json()["title"] == "पढ्ने"
        # The view waits for its turn, after the answer.
        assert not answer.done.done()
        assert count(path, "document_recents") == 0
    await answer.done
    assert count(path, "document_recents", f"document_id = '{document_id.replace('-', '')}'") == 1
    assert count(path, "audit_events", "action = 'document.view'") == 1


async def test_views_that_cannot_be_recorded_are_logged_once_and_noted_at_the_next_open(
    tmp_path: Path, layer: str, sign_up: SignUp, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(document_reads, "_VIEWS", BestEffort("document.view"))  # nothing logged yet
    async with sqlite_app(tmp_path, layer, write_wait_ms=300) as (app, path):
        document_id, cookie = await _document_and_cookie(app, sign_up)
        # The app's logging replaced the root's handlers, caplog's among them: listen where it logs.
        monkeypatch.setattr(logging.getLogger("app.services.best_effort"), "handlers", [caplog.handler])
        with write_lock_held(path):
            for _ in range(3):
                answer = Answer(app, f"{DOCS}/{document_id}", cookie)
                assert (await answer.response())[0] == 200
                await answer.done  # its view gave up its turn
        failures = [r.getMessage() for r in caplog.records if "document.view not recorded" in r.getMessage()]
        assert len(failures) == 1, failures
        assert "DatabaseBusy" in failures[0]
        # Dropped, not kept for later: the next open notes it, now that the lock is free.
        assert count(path, "audit_events", "action = 'document.view'") == 0
        answer = Answer(app, f"{DOCS}/{document_id}", cookie)
        assert (await answer.response())[0] == 200
        await answer.done
        assert count(path, "audit_events", "action = 'document.view'") == 1
