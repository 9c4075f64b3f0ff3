"""Ordering concurrent work on what the database shows, never on the clock.

A test that needs a statement to be waiting (on the server, holding its connection) or a
transaction to be blocked behind another one waits until PostgreSQL says so (`pg_locks`,
`pg_stat_activity`), polled with a bounded deadline."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import Database
from tests.processes import eventually

POLL = 0.01  # seconds between looks at the server's state
WITHIN = 30.0  # seconds before a wait fails, saying what it waited for


class Gate:
    """An advisory lock the test holds: a statement that takes it (`STATEMENT`, shared) stays on
    the server, holding its connection, until the gate opens; `pg_locks` shows how many wait.

    Advisory locks belong to one database: the gated statements must run on the gate's."""

    # The backend's pid, once the gate lets the statement through (the lock goes with the
    # statement's transaction).
    STATEMENT = "SELECT pg_backend_pid() AS pid, pg_advisory_xact_lock_shared($1::bigint) AS passed"
    ORM_STATEMENT = sa.text("SELECT pg_backend_pid(), pg_advisory_xact_lock_shared(:key)")

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.key = secrets.randbelow(2**31 - 1) + 1  # below 2**31: pg_locks shows it whole in `objid`
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Gate:
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.execute("SELECT pg_advisory_lock($1::bigint)", self.key)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.open()

    async def waiting(self) -> int:
        """How many statements wait at the gate now."""
        assert self._conn is not None, "the gate is open"
        query = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1"
        )
        return await self._conn.fetchval(query, self.key)

    async def until_waiting(self, count: int) -> None:
        """Until at least `count` statements wait at the gate, each on a connection of its own."""

        async def enough() -> bool:
            return await self.waiting() >= count

        await eventually(enough, within=WITHIN, interval=POLL, what=f"{count} statements waiting at the gate")

    async def open(self) -> None:
        """Let every statement through, and those that come later."""
        if self._conn is not None:
            await self._conn.close()  # ends the session, and with it the lock
            self._conn = None


@asynccontextmanager
async def lock_waits(db: Database) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Within the block, `await until_blocked()` returns once another transaction of `db` waits for
    a lock that one still open holds.

    PostgreSQL shows such a transaction in `pg_stat_activity`. SQLite has one writer at a time:
    a write transaction that begins while another of this process is open waits for its turn
    (app.db.sqlite_writers), which `db.writer_turns` counts."""
    turns = db.writer_turns
    if turns is None:

        async def until_blocked() -> None:
            await until_blocked_on_a_lock(db.engine)

        yield until_blocked
        return

    async def a_writer_waits() -> bool:
        return turns.waiting >= 1

    async def until_a_writer_waits() -> None:
        await eventually(a_writer_waits, within=WITHIN, interval=POLL, what="a write transaction waiting its turn")

    yield until_a_writer_waits


async def until_blocked_on_a_lock(engine: AsyncEngine, *, count: int = 1) -> None:
    """Until `count` of the engine's database's backends wait for a lock another one holds (PostgreSQL)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def blocked() -> bool:
        async with engine.connect() as conn:
            return (await conn.execute(query)).scalar_one() >= count

    await eventually(blocked, within=WITHIN, interval=POLL, what=f"{count} transactions waiting on a lock")


async def until_no_lock_on(engine: AsyncEngine, table: str) -> None:
    """Until no other backend holds (or waits for) a lock on `table` in the engine's database."""
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE relation = CAST(:table AS regclass) AND pid <> pg_backend_pid()"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )

    async def released() -> bool:
        async with engine.connect() as conn:
            return (await conn.execute(query, {"table": table})).scalar_one() == 0

    await eventually(released, within=10, interval=POLL, what=f"every lock on {table} to be let go")
