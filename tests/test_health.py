"""Liveness (/ping) and readiness (/health) probes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.db.migrate import alembic_config, head_revision, short, upgrade_to_head
from main import create_app
from tests.conftest import make_settings
from tests.databases import fresh_database, is_postgres
from tests.ocr.pages import ENGLISH_LETTER, render_page
from tests.processes import png_bytes

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nope"  # nothing listens on port 1
STRANGER = ("203.0.113.7", 40000)  # a client that is not on loopback


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


def client_from(app: FastAPI, address: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url="http://testserver")


async def test_health_tells_a_stranger_the_status_and_nothing_else(app: FastAPI) -> None:
    async with client_from(app, STRANGER) as stranger:
        response = await stranger.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("settings", [{"metrics_token": "s3cret-metrics"}], indirect=True)
async def test_with_a_metrics_token_only_its_bearer_sees_the_components(app: FastAPI) -> None:
    async with client_from(app, STRANGER) as stranger, client_from(app, ("127.0.0.1", 40000)) as local:
        bearer = await stranger.get("/health", headers={"authorization": "Bearer s3cret-metrics"})
        wrong = await stranger.get("/health", headers={"authorization": "Bearer guess"})
        loopback = await local.get("/health")

    assert bearer.status_code == 200
    assert set(bearer.json()["components"]) == {"database", "storage", "queue", "ocr", "disk", "worker"}
    assert wrong.json() == loopback.json() == {"status": "ok"}


@pytest.fixture
async def app_without_database(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app pointed at a database nobody serves (ENV=test: start-up does not migrate)."""
    application = create_app(make_settings(UNREACHABLE_DATABASE, tmp_path))
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client_without_database(app_without_database: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(app_without_database, ("127.0.0.1", 40000)) as client:
        yield client


async def test_health_tells_a_stranger_only_that_it_is_unavailable(app_without_database: FastAPI) -> None:
    async with client_from(app_without_database, STRANGER) as stranger:
        response = await stranger.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


async def test_health_is_503_when_database_is_unreachable(client_without_database: httpx.AsyncClient) -> None:
    response = await client_without_database.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] != "ok"
    assert body["components"]["database"]["status"] != "ok"


async def test_health_tells_an_operator_why_the_database_is_unavailable(
    client_without_database: httpx.AsyncClient,
) -> None:
    response = await client_without_database.get("/health")  # from loopback: an operator

    reason = response.json()["components"]["database"]["reason"]
    assert "PostgreSQL at 127.0.0.1:1 (database nope, user postgres)" in reason
    assert "connection refused" in reason


async def test_health_failure_reveals_no_connection_details_to_others(tmp_path: Path) -> None:
    application = create_app(make_settings(UNREACHABLE_DATABASE, tmp_path))
    transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 4000))
    async with LifespanManager(application), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/health")

    assert response.status_code == 503
    assert "127.0.0.1" not in response.text
    assert "nope" not in response.text


async def test_ping_still_answers_when_database_is_unreachable(client_without_database: httpx.AsyncClient) -> None:
    response = await client_without_database.get("/ping")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own (its schema will be changed)."""
    with fresh_database(tmp_path) as url:
        upgrade_to_head(make_settings(url, tmp_path))
        yield url


async def test_health_reports_a_schema_behind_the_code(tmp_path: Path, own_database: str) -> None:
    settings = make_settings(own_database, tmp_path)
    application = create_app(settings)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client,
    ):
        at_head = (await client.get("/health")).json()["components"]["database"]
        # Another deployment (an older release) took the schema back a step meanwhile.
        await anyio.to_thread.run_sync(command.downgrade, alembic_config(settings.sqlalchemy_url), "-1")
        response = await client.get("/health")

    head = short(head_revision())
    previous = short(
        ScriptDirectory.from_config(alembic_config(own_database)).get_revision(head_revision()).down_revision
    )
    assert at_head["status"] == "ok" and at_head["schema"] == head
    assert response.status_code == 503
    database = response.json()["components"]["database"]
    assert database["status"] == "schema_mismatch"
    assert database["schema"] == previous
    assert database["reason"] == f"database schema is at {previous}, the code needs {head}: run `lekhamudra db upgrade`"


@pytest.mark.usefixtures("alice")
async def test_health_is_degraded_not_down_while_uploads_wait_for_a_worker_that_is_not_there(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = (await client.get("/health")).json()
    uploaded = await client.post("/api/v1/documents/upload", files={"file": ("scan.png", png_page())})
    assert uploaded.status_code == 202, uploaded.text
    response = await client.get("/health")

    assert before["status"] == "ok"  # no worker, but nothing waits for one
    assert response.status_code == 200  # the API serves: not a readiness failure
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["worker"] == {
        "status": "down",
        "alive": False,
        "last_heartbeat_at": None,
        "jobs_waiting": 1,
        "expected": True,
    }


def png_page() -> bytes:
    return png_bytes(render_page(ENGLISH_LETTER[:1])[0])
