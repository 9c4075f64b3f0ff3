"""PostgreSQL's CPU per document created, by how many creates it runs at once.

`uv run python -m bench.pg_create` seeds a database as bench.api does (1 000 users, `--documents`
documents), gives the test user a session, pins PostgreSQL to core 0 and itself to core 1 (as
bench.api does), and then, for each size in `--at-once`, creates `--creates` documents through the
app's own write: `app.services.document_writes.create_for_session` on a `DriverPool` of that size (the session
check, the document, its first version, its index row and its audit event in one statement),
`--rounds` times, the sizes in alternation. Reported per size: the median over the rounds of the
CPU of this database's PostgreSQL backends per create (with the rounds' range), WAL bytes per
create, creates per second, and the slowest create. This is how DB_DRIVER_POOL_SIZE's default was
chosen. Prints a table; writes nothing. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import secrets
import statistics
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import psutil

from app import search
from app.db.driver import DriverPool
from app.services import audit, document_writes
from bench import _api_data as data
from bench._api_server import _postgres, pin_postgres

log = logging.getLogger("bench.pg_create")


@dataclass(frozen=True)
class Create:
    token_hash: str
    title: str
    content: str
    index: dict[str, str]


@dataclass(frozen=True)
class Round:
    cpu_us: float
    wal_bytes: float
    per_second: float
    slowest_ms: float


def creates(token_hash: str, count: int, seed: int) -> list[Create]:
    """Documents like the seeded ones, with their index literals made beforehand (the app makes
    them per request; here they would only slow the load)."""
    text = data.Text(seed=seed)
    made = []
    for _ in range(count):
        title, content = text.document()
        index = search.make_index_values("postgresql", title, content, [])
        made.append(Create(token_hash, title, content, index))
    return made


async def write(pool: DriverPool, create: Create) -> float:
    document_id = uuid.uuid4()
    began = time.perf_counter()
    params = document_writes.create_params(
        document_id=document_id,
        owner_id=None,
        title=create.title,
        content=create.content,
        now=datetime.now(UTC),
        index=create.index,
        event=audit.event_values("document.create", actor=None, target=audit.document_target(document_id)),
    )
    found = await document_writes.create_for_session().prepared.run(pool, token_hash=create.token_hash, **params)
    if not found or found["created_id"] is None:
        raise RuntimeError("the session was not live: nothing was written")
    return time.perf_counter() - began


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of this database's backends (titles "postgres: 15/main: <user> <database> ...")."""
    found = {}
    for process in _postgres():
        with suppress(psutil.Error):
            if f" {database} " in " ".join(process.cmdline()) + " ":
                times = process.cpu_times()
                found[process.pid] = times.user + times.system
    return found


async def wal_position(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT (pg_current_wal_lsn() - '0/0')::bigint"))


async def measure(url: str, database: str, at_once: int, batch: list[Create], warmup: list[Create]) -> Round:
    pool = DriverPool(url, max_size=at_once)
    conn = await asyncpg.connect(url)
    try:
        await asyncio.gather(*(write(pool, create) for create in warmup))  # connections open, statements prepared
        cpu_before, wal_before = backend_cpu(database), await wal_position(conn)
        began = time.perf_counter()
        # `at_once` writers, each taking the next create when its last one is done: the pool
        # never makes one wait, so a latency is the statement's own.
        queue = iter(batch)
        latencies: list[float] = []

        async def writer() -> None:
            for create in queue:
                latencies.append(await write(pool, create))

        await asyncio.gather(*(writer() for _ in range(at_once)))
        wall = time.perf_counter() - began
        cpu_after, wal_after = backend_cpu(database), await wal_position(conn)
    finally:
        await conn.close()
        await pool.close()
    cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    n = len(batch)
    return Round(1e6 * cpu / n, (wal_after - wal_before) / n, n / wall, 1e3 * max(latencies))


async def prepare(args: argparse.Namespace, database: str) -> tuple[str, str]:
    """The seeded database's URL, and the hash of a live session of its test user."""
    url = await data.create_database(database)
    hashed = await asyncio.to_thread(data.password_hash)
    seeded = await data.seed(database, url, users=args.users, documents=args.documents, hashed=hashed)
    token_hash = hashlib.sha256(secrets.token_urlsafe(32).encode("ascii")).hexdigest()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at, last_seen_at)"
            " VALUES ($1, $2, $3, $4, $5, $4)",
            uuid.uuid4(),
            token_hash,
            seeded.test_user_id,
            now,
            now + timedelta(days=1),
        )
    finally:
        await conn.close()
    return url, token_hash


def run(args: argparse.Namespace) -> dict[int, list[Round]]:
    database = f"lekhamudra_bench_pg_create_{uuid.uuid4().hex[:8]}"
    rounds: dict[int, list[Round]] = {size: [] for size in args.at_once}
    try:
        url, token_hash = asyncio.run(prepare(args, database))
        with pin_postgres(args.pin) as pinning:
            log.info("%s", pinning.describe())
            seed = 0
            for number in range(args.rounds):
                # Every other round the other way round, so a drift of the machine's speed during
                # a round does not fall on the same sizes each time.
                for size in args.at_once if number % 2 == 0 else reversed(args.at_once):
                    seed += 1
                    batch = creates(token_hash, args.creates, seed)
                    warmup = creates(token_hash, max(size, 20), 10_000 + seed)
                    result = asyncio.run(measure(url, database, size, batch, warmup))
                    rounds[size].append(result)
                    log.info(
                        "round %d, %2d at once: %4.0f µs of PostgreSQL CPU per create, %5.0f B of WAL, "
                        "%4.0f creates/s, slowest %.1f ms",
                        number + 1,
                        size,
                        result.cpu_us,
                        result.wal_bytes,
                        result.per_second,
                        result.slowest_ms,
                    )
    finally:
        asyncio.run(data.drop_database(database))
    return rounds


def _median(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def table(rounds: dict[int, list[Round]]) -> str:
    lines = [
        "| at once | PostgreSQL CPU µs per create | WAL bytes per create | creates/s | slowest create, ms |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, results in rounds.items():
        wal, per_second = (statistics.median(getattr(r, key) for r in results) for key in ("wal_bytes", "per_second"))
        lines.append(
            f"| {size} | {_median([r.cpu_us for r in results])} | {wal:,.0f} | {per_second:,.0f}"
            f" | {_median([r.slowest_ms for r in results], 1)} |"
        )
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at-once", default="1,4,8,16,32", help="comma-separated pool sizes")
    parser.add_argument("--creates", type=int, default=2_000, help="measured creates per size and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--documents", type=int, default=100_000, help="documents seeded first")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="leave CPU affinity alone")
    args: Any = parser.parse_args()
    args.at_once = [int(size) for size in args.at_once.split(",")]
    rounds = run(args)
    command = " ".join(["uv run python -m bench.pg_create", *sys.argv[1:]])
    log.info("\n`%s` (%s):\n\n%s", command, datetime.now(UTC).date(), table(rounds))


if __name__ == "__main__":
    main()
