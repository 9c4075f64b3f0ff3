"""Fixtures: the real app on a real, migrated database; each test starts from empty tables."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from sqlalchemy import text

from app.core.config import Settings
from app.db.migrate import upgrade_to_head
from app.models import Base
from app.models.base import utcnow
from app.ocr import OcrEngine, tessdata_dir
from app.services.ocr_pipeline import OcrDeps
from app.services.throttle import AuthThrottle
from main import create_app
from tests.clocks import T0, Clock, TickingClock
from tests.databases import fresh_database, is_postgres
from tests.processes import (
    REDIS_URL,
    postgres_database,
    redis_available,
    redis_client,
    require_postgres,
    require_service,
)
from tests.storage.support import BUCKET, boto3_client

PASSWORD = "correct horse battery"
_emails = itertools.count(1)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        # Tests run the OCR pipeline in-process, or start workers explicitly.
        "embedded_worker": False,
        **overrides,
    }
    if values["env"] == "prod":  # which refuses to start without a key of its own
        values.setdefault("secret_key", secrets.token_urlsafe(32))
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the run (SQLite file, or a fresh PostgreSQL database)."""
    data_dir = tmp_path_factory.mktemp("data")
    with fresh_database(data_dir) as url:
        upgrade_to_head(make_settings(url, data_dir))
        yield url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "settings(**overrides): settings for every test it marks (a module's pytestmark)"
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The app's settings: a module's `pytestmark = pytest.mark.settings(name=value)`, then a
    test's own via `@pytest.mark.parametrize("settings", [{...}], indirect=True)`."""
    marker = request.node.get_closest_marker("settings")
    overrides: dict[str, Any] = {**(marker.kwargs if marker else {}), **getattr(request, "param", {})}
    return make_settings(database_url, tmp_path, **overrides)


@pytest.fixture
def empty_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a brand-new, empty database (removed afterwards)."""
    with fresh_database(tmp_path) as url:
        yield make_settings(url, tmp_path)


async def _empty_tables(app: FastAPI) -> None:
    async with app.state.db.engine.begin() as conn:
        if is_postgres():
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        try:
            yield application
        finally:
            await _empty_tables(application)


ClientFactory = Callable[[], httpx.AsyncClient]


async def raw_post(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes, *, method: str = "POST"
) -> tuple[int, bytes]:
    """One POST (or `method`) straight into the ASGI app, with headers as given (no HTTP client
    would send them so): the status and the body."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
async def new_client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """Make more clients (browsers) on the same app; each keeps its own cookies."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(new_client: ClientFactory) -> httpx.AsyncClient:
    return new_client()


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    """The app's OpenAPI document, as a client fetches it."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def set_cookie(response: httpx.Response, name: str = "session_id") -> str | None:
    """The response's Set-Cookie header for one cookie (sign-ins also set the `device` cookie)."""
    return next((h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")), None)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_emails)}@example.com"


SignUp = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def sign_up() -> SignUp:
    """Sign a client up (JSON) and return the user it got."""

    async def _sign_up(client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/auth/signup", json={"email": email or unique_email(), "password": password}
        )
        assert response.status_code == 201, response.text
        return response.json()["user"]

    return _sign_up


@dataclass(frozen=True)
class Person:
    """A browser and the user signed in on it."""

    client: httpx.AsyncClient
    id: str
    email: str


async def sign_up_as(new_client: ClientFactory, sign_up: SignUp, name: str) -> Person:
    """A new browser, signed up as a new user whose email starts with `name`."""
    client = new_client()
    user = await sign_up(client, email=unique_email(name))
    return Person(client, user["id"], user["email"])


@pytest.fixture
async def owner(new_client: ClientFactory, sign_up: SignUp) -> Person:
    """A signed-up user who will own the test's documents."""
    return await sign_up_as(new_client, sign_up, "owner")


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """The app's clock, fixed at T0 until the test moves it. A module whose users must share its
    timeline from their sign-up on uses it in every test: `pytest.mark.usefixtures("clock")`."""
    app.state.clock = Clock(T0)
    return app.state.clock


@pytest.fixture
def ticking_clock(app: FastAPI) -> TickingClock:
    """The app's clock from T0, one second later at each reading: "most recent" is never a tie."""
    app.state.clock = TickingClock(T0)
    return app.state.clock


@pytest.fixture
async def alice(client: httpx.AsyncClient, sign_up: SignUp) -> dict[str, Any]:
    """`client`, signed in as a fresh user."""
    return await sign_up(client)


@pytest.fixture
async def bob_client(new_client: ClientFactory, sign_up: SignUp) -> httpx.AsyncClient:
    """A second browser, signed in as another user."""
    other = new_client()
    await sign_up(other)
    return other


# The sliding minute's clock, held in the middle of a minute: a race that straddles two minutes
# would let the previous minute's weight decide instead of the limit under test.
MID_MINUTE = (time.time() // 60) * 60 + 30


@pytest.fixture(params=["memory", "redis"])
def throttle(request: pytest.FixtureRequest, app: FastAPI) -> Iterator[AuthThrottle]:
    """The app's throttle on each storage; on Redis under a key prefix of this test's own."""
    settings = app.state.settings
    if request.param == "memory":
        app.state.throttle = AuthThrottle(settings, clock=lambda: MID_MINUTE)
        yield app.state.throttle
        return
    require_service(redis_available(), f"Redis ({REDIS_URL})")
    prefix = f"test-{uuid.uuid4().hex}"
    redis_settings = settings.model_copy(update={"redis_url": REDIS_URL})
    app.state.throttle = AuthThrottle(redis_settings, clock=lambda: MID_MINUTE, key_prefix=prefix)
    try:
        yield app.state.throttle
    finally:
        with redis_client() as client:
            keys = list(client.scan_iter(f"{prefix}*"))
            assert keys, "the Redis throttle stored nothing: the test did not use it"
            client.delete(*keys)


class Lines(logging.Handler):
    """The messages logged under one logger while the test runs (the app's own handler is
    replaced by create_app's logging set-up; this one sits on the logger itself)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """What the app logs under `lekhamudra` during the test, message by message."""
    lines = Lines()
    logger = logging.getLogger("lekhamudra")
    logger.addHandler(lines)
    try:
        yield lines.messages
    finally:
        logger.removeHandler(lines)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback with one empty bucket, for the whole run (tests use prefixes)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3_client(endpoint).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of the test's own (plain URL), whichever database the
    suite runs on."""
    require_postgres()
    with postgres_database(tmp_path) as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of our own, empty before and after."""
    require_service(redis_available(), f"Redis ({REDIS_URL})")
    with redis_client() as client:
        client.flushdb()
        try:
            yield REDIS_URL
        finally:
            client.flushdb()


@pytest.fixture
def postgres() -> None:
    """For tests that need PostgreSQL whichever database the suite runs on."""
    require_postgres()


# CI sets LEKHAMUDRA_NO_SKIPS=1: there, a test that skips (say, for missing Tesseract data) is a
# failure, so nothing is silently skipped. Locally, skips stay skips, each with its reason.
_skipped: list[str] = []


@pytest.fixture(scope="session")
def tessdata() -> Path:
    """The language data the app would use: the shipped nep + eng unless the machine has both."""
    return tessdata_dir()


@pytest.fixture(scope="session")
def engine(tessdata: Path) -> Iterator[OcrEngine]:
    """Real Tesseract in a child process, one per test process (each pytest-xdist worker)."""
    with OcrEngine(tessdata, page_timeout=60) as ocr:
        yield ocr


class Enqueued(list):
    """The enqueue an in-process OCR job is given: what it sent, as (document_id, generation, delay),
    and each one's priority."""

    def __init__(self) -> None:
        super().__init__()
        self.priorities: list[int] = []

    async def __call__(
        self, document_id: uuid.UUID, generation: int, delay: float | None, *, priority: int = 0
    ) -> None:
        self.append((document_id, generation, delay))
        self.priorities.append(priority)


@pytest.fixture
def deps(app: FastAPI, engine: OcrEngine) -> OcrDeps:
    """What run_ocr_job needs, on the test's app and the real engine."""
    return OcrDeps(
        settings=app.state.settings,
        db=app.state.db,
        storage=app.state.storage,
        engine=lambda: engine,
        enqueue=Enqueued(),
        clock=utcnow,
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("LEKHAMUDRA_NO_SKIPS") == "1" and _skipped:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LEKHAMUDRA_NO_SKIPS: {len(_skipped)} test(s) skipped, which CI forbids:", red=True)
            for nodeid in _skipped:
                reporter.write_line(f"  {nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
