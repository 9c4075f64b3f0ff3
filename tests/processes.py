"""Real `lekhamudra` processes for integration tests: start, watch, stop; and the services they share.

Each process runs in its own session (process group), so a test can stop or SIGKILL the whole
tree `uv run` starts: the CLI, Huey's worker processes and each worker's Tesseract child.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
import pytest
import redis
import sqlalchemy as sa
from PIL import Image

from app.core.config import Settings
from app.db.migrate import PROJECT_ROOT, upgrade_to_head

T = TypeVar("T")
# What a wait is for: a text, or a function giving one when it times out (such as a log's tail).
Description = str | Callable[[], str]
_TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
# These tests need PostgreSQL whichever database the rest of the suite runs on.
ADMIN_DATABASE_URL = (
    _TEST_DATABASE_URL if _TEST_DATABASE_URL.startswith("postgres") else "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _redis_url_of_this_worker(base: str) -> str:
    """TEST_REDIS_URL's database number plus this pytest-xdist worker's index (gw1 -> +1): tests
    empty their Redis database, so parallel workers each need their own."""
    parts = urlsplit(base)
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return urlunsplit(parts._replace(path=f"/{int(parts.path.lstrip('/') or 0) + index}"))


REDIS_URL = _redis_url_of_this_worker(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7"))
# Every variable Settings reads, so a developer's shell or CI job cannot leak into a test's process.
_SETTINGS_VARS = {name.upper() for name in Settings.model_fields} - {"TESSDATA_PREFIX"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Lekhamudra setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS and not k.startswith("LEKHAMUDRA_")}
    return {**env, **settings}


def png_bytes(page: Image.Image) -> bytes:
    buffer = io.BytesIO()
    page.save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


def tiff_bytes(pages: list[Image.Image]) -> bytes:
    """A multi-page TIFF at 300 DPI, as a scanner's document feeder makes them."""
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:], dpi=(300, 300), compression="tiff_lzw")
    return buffer.getvalue()


class Service:
    """One `uv run lekhamudra …` command in its own process group, its output in a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.log_path = log_path
        self.env = env
        with log_path.open("ab") as log:
            # --project, and a cwd outside the checkout: a developer's .env there must not apply.
            self.process = subprocess.Popen(
                ["uv", "run", "--project", str(PROJECT_ROOT), "lekhamudra", *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pgid = self.process.pid

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_running(self) -> bool:
        return self.process.poll() is None

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def signal_group(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    def kill(self) -> None:
        """SIGKILL the whole tree at once, as the OOM killer or a lost machine would."""
        self.signal_group(signal.SIGKILL)
        self.process.wait()

    def stop(self, signum: int = signal.SIGINT, *, to_group: bool = True, timeout: float = 15.0) -> int:
        """Ask politely (the group, like Ctrl-C, or only the top process, like a supervisor); then kill."""
        if self.is_running():
            if to_group:
                self.signal_group(signum)
            else:
                self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            code = self.process.wait()
        return code


def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a `lekhamudra` command to completion, capturing stdout and stderr apart."""
    return subprocess.run(
        ["uv", "run", "--project", str(PROJECT_ROOT), "lekhamudra", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _describe(what: Description) -> str:
    return what() if callable(what) else what


def wait_for(condition: Callable[[], T | None], *, within: float, what: Description, interval: float = 0.25) -> T:
    """Poll until `condition` returns something truthy; fail describing `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {_describe(what)}")
        time.sleep(interval)


@contextmanager
def serving(tmp_path: Path, *args: str, **settings: str) -> Iterator[tuple[str, Service]]:
    """`lekhamudra serve` as a user starts it, on the database this suite runs on (a fresh
    PostgreSQL database when TEST_DATABASE_URL names one, else SQLite under DATA_DIR), with the
    given settings (and more `serve` arguments): its base URL and its process, stopped afterwards."""
    data_dir = tmp_path / "data"
    with ExitStack() as stack:
        if _TEST_DATABASE_URL.startswith("postgres"):
            settings = {"DATABASE_URL": stack.enter_context(postgres_database(data_dir)), **settings}
        port = free_port()
        env = clean_env(**{"DATA_DIR": str(data_dir), "EMBEDDED_WORKER": "false", **settings})
        service = Service(["serve", "--port", str(port), *args], env=env, cwd=tmp_path, log_path=tmp_path / "serve.log")
        stack.callback(service.stop, signal.SIGINT, timeout=15)
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(service, url)
        yield url, service


def wait_until_serving(service: Service, base_url: str, *, within: float = 60) -> None:
    """Until a `lekhamudra serve` answers /ping; fails with its log if it exits meanwhile."""

    def answers() -> bool:
        assert service.is_running(), service.log()
        try:
            return httpx.get(f"{base_url}/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, within=within, what=f"{base_url} to answer /ping", interval=0.2)


async def eventually(
    condition: Callable[[], Awaitable[T | None]], *, within: float, what: Description, interval: float = 0.25
) -> T:
    """`wait_for` for async conditions."""
    deadline = time.monotonic() + within
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {_describe(what)}")
        await asyncio.sleep(interval)


# --- Services: PostgreSQL and Redis ------------------------------------------------------------


def postgres_available() -> bool:
    async def _ping() -> None:
        conn = await asyncpg.connect(_admin_dsn(), timeout=3)
        await conn.close()

    try:
        asyncio.run(_ping())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def require_service(available: bool, service: str) -> None:
    """CI provides every service, so there a missing one fails; on a laptop it is a visible skip."""
    if available:
        return
    message = f"{service} is not reachable"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_postgres() -> None:
    """For tests that need PostgreSQL whichever database the suite runs on."""
    require_service(postgres_available(), "PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432)")


def admin_dsn() -> str:
    """The PostgreSQL server's maintenance database, as a plain (asyncpg) URL."""
    return _admin_dsn()


def _admin_dsn() -> str:
    return sa.make_url(ADMIN_DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_database(data_dir: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (plain URL), dropped afterwards even if still in use."""
    name = f"lekhamudra_proc_{uuid.uuid4().hex[:12]}"

    async def _admin(sql: str) -> None:
        conn = await asyncpg.connect(_admin_dsn())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(ADMIN_DATABASE_URL).set(drivername="postgresql", database=name)
    plain = url.render_as_string(hide_password=False)
    try:
        upgrade_to_head(Settings(_env_file=None, env="test", database_url=plain, data_dir=data_dir))  # type: ignore[call-arg]
        yield plain
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)


def redis_available() -> bool:
    try:
        with redis_client() as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def idle_redis_consumers(client: redis.Redis) -> int:
    """Connections to our db blocked waiting for a task: one per idle Huey worker."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    waiting = ("brpop", "bzpopmin")  # a list queue, a priority queue (a sorted set)
    return sum(1 for c in client.client_list() if c.get("cmd") in waiting and int(c.get("db", -1)) == db)
