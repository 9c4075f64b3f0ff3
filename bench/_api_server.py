"""The server under test for bench.api, CPU pinning, and CPU accounting per measured run."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil

from app.core.config import Settings
from bench._api_data import ADMIN_DSN

log = logging.getLogger("bench.api")
PROJECT = Path(__file__).resolve().parent.parent
SERVER_CPU, LOAD_CPU = 0, 1
# Every variable Settings reads, so the caller's shell cannot change the server under test.
SETTINGS_VARS = {name.upper() for name in Settings.model_fields}
HIGH_LIMIT = "1000000"


@dataclass
class Server:
    port: int
    root: psutil.Process  # the `uv run` launcher; the server processes are its descendants
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        with suppress(psutil.Error):
            return [self.root, *self.root.children(recursive=True)]
        return []

    def workers(self) -> list[psutil.Process]:
        """The processes that serve requests: the leaves of the tree, not counting uv and
        multiprocessing's own (a resource tracker, a text worker)."""
        found = []
        for process in self.processes():
            with suppress(psutil.Error):
                if (
                    process.name() != "uv"
                    and not _is_helper(process)
                    and not [child for child in process.children() if not _is_helper(child)]
                ):
                    found.append(process)
        return found


def _is_helper(process: psutil.Process) -> bool:
    with suppress(psutil.Error):
        return "multiprocessing" in " ".join(process.cmdline())
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    *,
    database_url: str,
    workers: int,
    pin: bool,
    workdir: Path,
    name: str,
    project: Path = PROJECT,
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    """`uv run lekhamudra serve` of `project` (this checkout by default) on a free port (under
    `taskset -c 0` when pinned), with `settings` as well; stopped after."""
    port = free_port()
    data_dir = workdir / f"{name}-data"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS and not k.startswith("LEKHAMUDRA_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env |= {
        "DATABASE_URL": database_url,
        "ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "COOKIE_SECURE": "false",
        "EMBEDDED_WORKER": "false",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(data_dir),
        # Only successful logins are sent, which are never throttled; these make sure of it.
        "LOGIN_FAILURES_PER_IP_PER_MINUTE": HIGH_LIMIT,
        # Each login is counted as it starts: past this many at once for one email, one at a time.
        "LOGIN_FAILURES_BEFORE_DELAY": HIGH_LIMIT,
        "SIGNUPS_PER_IP_PER_HOUR": HIGH_LIMIT,
        "LINK_FAILURES_PER_IP_PER_MINUTE": HIGH_LIMIT,
        "ANONYMOUS_HASHES_PER_IP_PER_MINUTE": HIGH_LIMIT,
        **(settings or {}),
    }
    command = ["uv", "run", "lekhamudra", "serve", "--port", str(port), "--workers", str(workers)]
    if pin:
        command = ["taskset", "-c", str(SERVER_CPU), *command]
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=project, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: the server did not start:\n{log_path.read_text()[-3000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        server = Server(port, psutil.Process(process.pid), log_path)
        deadline = time.monotonic() + 30
        while len(server.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful stop), then SIGKILL for whatever is left of the process group."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _postgres() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            found.append(process)
    return found


@dataclass
class Pinning:
    """PostgreSQL's processes on the server's core; their old affinity to put back."""

    pinned: bool = False
    reason: str = ""
    saved: dict[int, list[int]] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.pinned:
            return f"unpinned ({self.reason})"
        return (
            f"server and PostgreSQL pinned to core {SERVER_CPU} (`taskset`), wrk to core {LOAD_CPU}; "
            "other processes on the machine were not pinned"
        )


@contextmanager
def pin_postgres(enabled: bool) -> Iterator[Pinning]:
    """`taskset -pc 0` on every postgres process (new backends inherit it from the postmaster)."""
    state = Pinning(reason="--no-pin")
    all_cpus = sorted(os.sched_getaffinity(0))
    own = os.sched_getaffinity(0)
    try:
        if enabled:
            if len(all_cpus) < 2 or not {SERVER_CPU, LOAD_CPU} <= set(all_cpus):
                state.reason = f"pinning needs cores {SERVER_CPU} and {LOAD_CPU}"
            else:
                _pin(state)
        if state.pinned:
            os.sched_setaffinity(0, {LOAD_CPU})  # this process stays off the server's core too
        yield state
    finally:
        if state.pinned:
            os.sched_setaffinity(0, own)
            _unpin(state, all_cpus)


def _pin(state: Pinning) -> None:
    processes = _postgres()
    if not processes:
        state.reason = "no postgres process found"
        return
    for process in processes:
        with suppress(psutil.Error):
            state.saved[process.pid] = process.cpu_affinity()
        result = subprocess.run(  # noqa: S603
            ["taskset", "-pc", str(SERVER_CPU), str(process.pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and process.is_running():
            state.reason = f"taskset failed: {result.stderr.strip() or result.returncode}"
            _unpin(state, sorted(os.sched_getaffinity(0)))
            return
    state.pinned = True


def _unpin(state: Pinning, all_cpus: list[int]) -> None:
    """Old affinity back for the processes we pinned; all cores for backends forked meanwhile."""
    cpus = ",".join(map(str, all_cpus))
    for process in _postgres():
        saved = state.saved.get(process.pid)
        target = ",".join(map(str, saved)) if saved else cpus
        subprocess.run(["taskset", "-pc", target, str(process.pid)], capture_output=True, check=False)  # noqa: S603, S607


def _sessions(database: str) -> int:
    """Connections ever opened to `database` (pg_stat_database.sessions), asked from another database."""

    async def fetch() -> int:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            return await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", database) or 0
        finally:
            await conn.close()

    return asyncio.run(fetch())


class CpuMeter:
    """CPU seconds of the server's processes and of PostgreSQL, and connections opened, over a run.

    PostgreSQL's share is this database's backends that are still alive at the end: a connection
    opened and closed within the run is not counted (the postmaster's child times would count it,
    but also every other database's).
    """

    def __init__(self, server: Server, database: str) -> None:
        self.server, self.database = server, database
        self._start = self._sample()
        self._start_sessions = _sessions(database)

    def _backends(self) -> list[psutil.Process]:
        found = []
        for process in _postgres():
            with suppress(psutil.Error):
                # A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
                if f" {self.database} " in " ".join(process.cmdline()) + " ":
                    found.append(process)
        return found

    def _sample(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {"server": {}, "postgres": {}}
        for key, processes in (("server", self.server.processes()), ("postgres", self._backends())):
            for process in processes:
                with suppress(psutil.Error):
                    times = process.cpu_times()
                    sample[key][process.pid] = times.user + times.system
        return sample

    def used(self) -> dict[str, float]:
        """CPU seconds per group since the meter started, and `connections` opened meanwhile."""
        end = self._sample()
        used = {key: sum(v - self._start[key].get(pid, 0.0) for pid, v in end[key].items()) for key in end}
        used["connections"] = _sessions(self.database) - self._start_sessions
        return used
