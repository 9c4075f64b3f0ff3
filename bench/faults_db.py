"""Database faults under load: acknowledged writes lost (must be 0), 5xx answered, time to recover.

Run: uv run python -m bench.faults_db [--clients 8] [--kills 4] [--pause 20] [--write]

A real server (`lekhamudra serve`, ENV=prod, one process) on a fresh PostgreSQL database reached
through a TCP proxy (bench/_proxy.py). `--clients` signed-in clients each create a document and
read it back, in a loop, for the whole run, which has two phases:

- terminate: every backend of the database is terminated (`pg_terminate_backend`) `--kills` times,
  `--every` seconds apart;
- pause: the proxy stops forwarding for `--pause` seconds (a hung database), then forwards again.

Reported per phase: requests, 2xx, 5xx by code (and client-side timeouts), creates acknowledged
(2xx) and how many of those the database does not hold (read afterwards, straight from
PostgreSQL), and the time to recover: from each fault's end (the termination; the resume) to the
next 2xx. Writes the "Database faults" section of docs/benchmarks.md with --write.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import sqlalchemy as sa

from app.core.config import Settings
from app.db.migrate import upgrade_to_head
from bench._api_data import ADMIN_DSN
from bench._api_server import serve
from bench._docs import add_write_option, publish
from bench._proxy import Proxy

log = logging.getLogger("bench.faults_db")
SECTION = "## Database faults"
PASSWORD = "correct horse battery staple"  # noqa: S105  # the benchmark users' own
CLIENT_TIMEOUT = 30.0


@dataclass
class Answer:
    at: float
    took: float
    status: int  # 0: no answer within CLIENT_TIMEOUT, or the connection failed
    code: str | None


@dataclass
class Phase:
    name: str
    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # ids of the 2xx creates
    faults_ended: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # acknowledged, yet not in the database

    def recoveries(self) -> list[float]:
        """Seconds from each fault's end to the next 2xx."""
        times = []
        for ended in self.faults_ended:
            later = [a.at for a in self.answers if a.at >= ended and 200 <= a.status < 300]
            if later:
                times.append(min(later) - ended)
        return times


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def terminate_backends(database: str) -> int:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return len(rows)


async def held_ids(database_dsn: str, ids: list[str]) -> set[str]:
    conn = await asyncpg.connect(database_dsn)
    try:
        rows = await conn.fetch("SELECT id::text FROM documents WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
    return {row["id"] for row in rows}


async def client_loop(base_url: str, index: int, phases: list[Phase], stop: asyncio.Event) -> None:
    """Sign up, then create and read back documents until told to stop; answers go to the current phase."""
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
        email = f"faults-{index}-{uuid.uuid4().hex[:8]}@example.com"
        signed = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        signed.raise_for_status()
        number = 0
        while not stop.is_set():
            number += 1
            phase = phases[0]
            created = await _send(client, "POST", "/api/v1/documents", {"title": f"c{index}-{number}", "content": "x"})
            phase.answers.append(created[0])
            if created[1] is not None:
                phase.acknowledged.append(created[1])
                read, _ = await _send(client, "GET", f"/api/v1/documents/{created[1]}", None)
                phase.answers.append(read)


async def _send(client: httpx.AsyncClient, method: str, path: str, body: dict | None) -> tuple[Answer, str | None]:
    started = time.monotonic()
    try:
        response = await client.request(method, path, json=body)
    except httpx.HTTPError:
        return Answer(time.monotonic(), time.monotonic() - started, 0, "no_answer"), None
    code = None
    if response.status_code >= 400:
        try:
            code = response.json().get("code")
        except ValueError:
            code = "not_json"
    made = response.json()["id"] if method == "POST" and response.status_code == 201 else None
    return Answer(time.monotonic(), time.monotonic() - started, response.status_code, code), made


async def run(args: argparse.Namespace) -> list[Phase]:
    name = f"lekhamudra_faults_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    direct = sa.make_url(ADMIN_DSN).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            await asyncio.to_thread(
                upgrade_to_head,
                Settings(_env_file=None, env="test", database_url=direct, data_dir=Path(workdir)),  # type: ignore[call-arg]
            )
            with Proxy.in_front_of(direct) as proxy:
                server = serve(
                    database_url=proxy.url(direct), workers=1, pin=False, workdir=Path(workdir), name="faults"
                )
                with server as running:
                    try:
                        return await _load(args, running.base_url, name, proxy, direct)
                    finally:
                        _log_server_errors(running.log_path)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _load(args: argparse.Namespace, base_url: str, name: str, proxy: Proxy, direct: str) -> list[Phase]:
    terminate, pause = Phase("terminate all backends"), Phase(f"database hung {args.pause:g} s")
    current = [Phase("warm-up")]
    stop = asyncio.Event()
    clients = [asyncio.create_task(client_loop(base_url, i, current, stop)) for i in range(args.clients)]
    await asyncio.sleep(args.every)
    current[0] = terminate
    for _ in range(args.kills):
        await asyncio.sleep(args.every)
        killed = await terminate_backends(name)
        terminate.faults_ended.append(time.monotonic())
        log.info("terminated %d backends", killed)
    await asyncio.sleep(args.every)
    current[0] = pause
    await asyncio.sleep(args.every)
    await asyncio.to_thread(proxy.pause)
    log.info("database paused for %g s", args.pause)
    await asyncio.sleep(args.pause)
    await asyncio.to_thread(proxy.resume)
    pause.faults_ended.append(time.monotonic())
    await asyncio.sleep(max(args.every, CLIENT_TIMEOUT / 2))
    stop.set()
    await asyncio.gather(*clients)
    for phase in (terminate, pause):
        held = await held_ids(direct, phase.acknowledged)
        phase.lost = [i for i in phase.acknowledged if i not in held]
    return [terminate, pause]


def _log_server_errors(path: Path) -> None:
    """The server's error lines (incidents, and any 500 with its traceback's last lines)."""
    lines = path.read_text().splitlines()
    errors = [i for i, line in enumerate(lines) if " ERROR " in line]
    log.info("server log: %d error lines", len(errors))
    for i in errors[:3]:
        following = [line for line in lines[i + 1 : i + 200] if not line.startswith("20")]
        log.info("%s\n%s", lines[i], "\n".join(following[-40:]))


def table(phases: list[Phase], args: argparse.Namespace) -> str:
    lines = [
        SECTION,
        "",
        f"`uv run python -m bench.faults_db --clients {args.clients} --kills {args.kills} --every {args.every:g} "
        f"--pause {args.pause:g}`: one `lekhamudra serve` process (ENV=prod, default timeouts: connect 5 s, "
        "acquire 5 s, statement 10 s) on PostgreSQL through a TCP proxy; each client creates a document and "
        "reads it back in a loop. Acknowledged creates are checked afterwards straight in PostgreSQL.",
        "",
        "| phase | requests | 2xx | 5xx by code | no answer | creates acknowledged | lost | recovery s (median, max) "
        "| slowest answer s |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for phase in phases:
        statuses = Counter(a.status for a in phase.answers)
        ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
        errors = Counter(f"{a.status} {a.code}" for a in phase.answers if a.status >= 500)
        by_code = ", ".join(f"{key}: {count}" for key, count in sorted(errors.items())) or "none"
        recoveries = phase.recoveries()
        recovery = (
            f"{statistics.median(recoveries):.2f}, {max(recoveries):.2f}" if recoveries else "no 2xx after the fault"
        )
        lines.append(
            f"| {phase.name} | {len(phase.answers)} | {ok} | {by_code} | {statuses.get(0, 0)} | "
            f"{len(phase.acknowledged)} | {len(phase.lost)} | {recovery} | {max(a.took for a in phase.answers):.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--kills", type=int, default=4, help="times every backend is terminated (default 4)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between faults (default 3)")
    parser.add_argument("--pause", type=float, default=20.0, help="seconds the database hangs (default 20)")
    add_write_option(parser)
    args = parser.parse_args()
    phases = asyncio.run(run(args))
    publish(SECTION, table(phases, args), write=args.write)


if __name__ == "__main__":
    main()
