"""Database faults as an operator sees them happen, on a real PostgreSQL server: every backend
terminated (a restart, a failover)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

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
