"""Database faults as an operator sees them happen, on a real PostgreSQL server: every backend
terminated (a restart, a failover), and the server hung behind a paused TCP proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.errors import DatabaseUnavailable
from app.db.faults import database_fault
from app.db.prepared import PreparedQuery
from bench._proxy import Proxy
from main import create_app
from tests.conftest import PASSWORD, make_settings, unique_email
from tests.processes import admin_dsn, eventually

DOCUMENTS = "/api/v1/documents"


@asynccontextmanager
async def running(url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(url, tmp_path, **overrides))
    async with LifespanManager(application):
        yield application


@asynccontextmanager
async def signed_in(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        assert response.status_code == 201, response.text
        yield client


async def terminate_backends(url: str) -> int:
    """pg_terminate_backend for every backend of `url`'s database, then wait until they are gone:
    how many there were."""
    name = sa.make_url(url).database
    conn = await asyncpg.connect(admin_dsn())
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )

        async def gone() -> bool:
            return not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)

        await eventually(gone, within=30, what="the terminated backends to exit")
    finally:
        await conn.close()
    return len(rows)


async def test_no_request_fails_after_every_backend_is_terminated(postgres_url: str, tmp_path: Path) -> None:
    async with running(postgres_url, tmp_path) as app, signed_in(app) as client:
        first = await client.post(DOCUMENTS, json={"title": "before", "content": "kept"})
        assert first.status_code == 201, first.text
        for _ in range(3):  # connections in both pools, idle now
            assert (await client.get(f"{DOCUMENTS}/{first.json()['id']}")).status_code == 200
            assert (await client.get(DOCUMENTS)).status_code == 200

        assert await terminate_backends(postgres_url) >= 2

        # Through both pools: the driver's (session check, read, list, create) and the ORM's
        # (versions, star, the edit's unit of work).
        document = f"{DOCUMENTS}/{first.json()['id']}"
        statuses = []
        for index in range(4):
            statuses.append((await client.get(f"{document}/versions")).status_code)
            statuses.append((await client.put(f"{document}/star")).status_code)
            created = await client.post(DOCUMENTS, json={"title": f"after {index}", "content": "x"})
            statuses.append(created.status_code)
            statuses.append((await client.get(document)).status_code)
            statuses.append((await client.get(DOCUMENTS)).status_code)
        assert statuses == [200, 204, 201, 200, 200] * 4
        listed = (await client.get(DOCUMENTS, params={"limit": 50})).json()
        assert len(listed["items"]) == 5


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[Proxy]:
    with Proxy.in_front_of(postgres_url) as proxy:
        yield proxy


HUNG = {"db_statement_timeout_seconds": 1.0, "db_acquire_timeout_seconds": 1.0, "db_connect_timeout_seconds": 1.0}
# A bound far past the timeouts above: on a hung database, without them, requests wait for minutes.
NO_LONGER_THAN = 30


async def test_a_hung_database_answers_503_database_unavailable_and_logs_it_once(
    postgres_url: str, pg_proxy: Proxy, tmp_path: Path, logged: list[str]
) -> None:
    async with running(pg_proxy.url(postgres_url), tmp_path, **HUNG) as app, signed_in(app) as client:
        created = await client.post(DOCUMENTS, json={"title": "t", "content": "c"})
        assert created.status_code == 201
        document = f"{DOCUMENTS}/{created.json()['id']}"

        pg_proxy.pause()
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(client.get(path) for path in [document, DOCUMENTS, f"{document}/versions"] * 3)),
                timeout=NO_LONGER_THAN,
            )
        finally:
            pg_proxy.resume()

        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.json() == {
                "detail": "The database is not answering; try again shortly",
                "code": "database_unavailable",
            }
            assert int(answer.headers["retry-after"]) >= 1
        assert [line for line in logged if line.startswith("incident.start")] == [
            "incident.start database_unavailable: TimeoutError"
        ]
        assert not [line for line in logged if line.startswith("unhandled error")]
        # Once the server answers again, so does the app, through both pools.
        assert (await client.get(document)).status_code == 200
        assert (await client.get(f"{document}/versions")).status_code == 200
        assert [line for line in logged if line.startswith("incident.end database_unavailable")]


@pytest.mark.parametrize("path", ["orm", "driver"])
async def test_each_pool_gives_up_on_a_hung_database(
    postgres_url: str, pg_proxy: Proxy, tmp_path: Path, path: str
) -> None:
    async with running(pg_proxy.url(postgres_url), tmp_path, **HUNG) as app:
        db = app.state.db
        one = PreparedQuery(sa.select(sa.literal(1).label("one")))

        async def read() -> None:
            if path == "orm":
                async with db.unit_of_work(write=False) as session:
                    await session.execute(sa.text("SELECT 1"))
            else:
                await one.first(db)

        await read()  # a pooled connection, idle, ready
        pg_proxy.pause()
        try:
            # More at once than the pools hold: some wait for a statement, some for a connection.
            results = await asyncio.wait_for(
                asyncio.gather(*(read() for _ in range(30)), return_exceptions=True), timeout=NO_LONGER_THAN
            )
        finally:
            pg_proxy.resume()
        assert results
        assert all(isinstance(result, Exception) for result in results)
        assert all(isinstance(database_fault(result), DatabaseUnavailable) for result in results), results
        await read()
