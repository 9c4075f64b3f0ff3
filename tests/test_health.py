"""Liveness (/ping) and readiness (/health) probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from main import create_app
from tests.conftest import make_settings
from tests.databases import is_postgres

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nope"  # nothing listens on port 1


async def test_ping_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_reports_database_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"


async def test_health_names_the_database_backend(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    expected = "postgresql" if is_postgres() else "sqlite"
    assert response.json()["components"]["database"]["backend"] == expected


@pytest.fixture
async def client_without_database(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app pointed at a database nobody serves (ENV=test: start-up does not migrate)."""
    application = create_app(make_settings(UNREACHABLE_DATABASE, tmp_path))
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
    ):
        yield client


async def test_health_is_503_when_database_is_unreachable(client_without_database: httpx.AsyncClient) -> None:
    response = await client_without_database.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] != "ok"
    assert body["components"]["database"]["status"] != "ok"


async def test_health_failure_reveals_no_connection_details(client_without_database: httpx.AsyncClient) -> None:
    response = await client_without_database.get("/health")

    assert "127.0.0.1" not in response.text
    assert "nope" not in response.text


async def test_ping_still_answers_when_database_is_unreachable(client_without_database: httpx.AsyncClient) -> None:
    response = await client_without_database.get("/ping")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
