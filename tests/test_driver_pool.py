"""The driver's connections for hot statements (app.db.driver), on a real PostgreSQL server:
bounded, reused, a failed or cancelled statement's connection never reused, nothing leaked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from app.db.driver import DriverPool
from main import create_app
from tests.conftest import make_settings
from tests.processes import admin_dsn, require_postgres

PID = "SELECT pg_backend_pid() AS pid"
SLOW_PID = "SELECT pg_backend_pid() AS pid, pg_sleep($1::float8) AS slept"


def marked_slow_pid() -> str:
    """SLOW_PID with a mark of its own, to find this test's statements among the server's."""
    return f"{SLOW_PID} /* {uuid.uuid4().hex} */"


async def running(sql: str, count: int) -> None:
    """Until the server runs `count` statements `sql`."""
    conn = await asyncpg.connect(admin_dsn())
    try:
        query = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1"
        for _ in range(3000):  # the server's own state, polled: 30 s at most
            if await conn.fetchval(query, sql) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the server never ran {count} of {sql!r}")
    finally:
        await conn.close()


async def blocked(*tasks: asyncio.Task[object]) -> None:
    """Let the tasks run until each waits on something (the event loop runs them in order)."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


@pytest.fixture
def postgres() -> None:
    require_postgres()


@pytest.fixture
async def pool(postgres: None) -> AsyncIterator[DriverPool]:
    made = DriverPool(admin_dsn(), max_size=3)
    try:
        yield made
    finally:
        await made.close()


async def test_one_connection_serves_statements_one_after_another(pool: DriverPool) -> None:
    pids = {(await pool.fetchrow(PID, []))["pid"] for _ in range(5)}
    assert len(pids) == 1


async def test_no_more_connections_than_max_size_however_many_statements_wait(pool: DriverPool) -> None:
    rows = await asyncio.gather(*(pool.fetchrow(SLOW_PID, [0.05]) for _ in range(12)))
    assert len(rows) == 12
    assert len({row["pid"] for row in rows}) == 3


async def test_the_app_runs_db_driver_pool_size_hot_statements_at_once_beside_its_orm_pool(
    postgres: None, tmp_path: Path
) -> None:
    settings = make_settings(admin_dsn(), tmp_path, db_pool_size=6, db_driver_pool_size=2)
    db = create_app(settings).state.db
    try:
        pool = await db.driver_pool()
        assert pool is not None
        rows = await asyncio.gather(*(pool.fetchrow(SLOW_PID, [0.05]) for _ in range(12)))
        assert len({row["pid"] for row in rows}) == 2

        # The ORM's pool is its own: its six connections are not the driver's two.
        async def orm_pid() -> int:
            async with db.session(write=False) as session:
                return (await session.execute(sa.text("SELECT pg_backend_pid(), pg_sleep(0.05)"))).scalar_one()

        orm_pids = set(await asyncio.gather(*(orm_pid() for _ in range(6))))
        assert len(orm_pids) == 6
        assert not orm_pids & {row["pid"] for row in rows}
    finally:
        await db.dispose()


async def test_fetch_returns_every_row(pool: DriverPool) -> None:
    rows = await pool.fetch("SELECT generate_series(1, $1::int) AS n", [4])
    assert [row["n"] for row in rows] == [1, 2, 3, 4]


async def test_a_connection_whose_statement_failed_is_closed_not_reused(pool: DriverPool) -> None:
    before = (await pool.fetchrow(PID, []))["pid"]
    with pytest.raises(asyncpg.DataError):
        await pool.fetchrow("SELECT $1::int AS n", ["not a number"])  # fails while encoding the argument
    with pytest.raises(asyncpg.UndefinedTableError):
        await pool.fetchrow("SELECT * FROM no_such_table", [])
    after = (await pool.fetchrow(PID, []))["pid"]
    assert after != before
    assert await _backend_gone(before)


async def test_a_statement_cancelled_midway_gives_back_its_slot_and_drops_its_connection(pool: DriverPool) -> None:
    sql = marked_slow_pid()
    slow = asyncio.create_task(pool.fetchrow(sql, [5]))
    await asyncio.wait_for(running(sql, 1), timeout=30)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    rows = await asyncio.gather(*(pool.fetchrow(SLOW_PID, [0.05]) for _ in range(3)))
    assert len({row["pid"] for row in rows}) == 3  # all three slots are free again


async def test_a_caller_cancelled_while_waiting_for_a_slot_takes_none(pool: DriverPool) -> None:
    busy = [asyncio.create_task(pool.fetchrow(SLOW_PID, [0.3])) for _ in range(3)]
    await blocked(*busy)  # each holds a slot, connecting
    waiting = asyncio.create_task(pool.fetchrow(PID, []))
    await blocked(waiting)  # on the slots
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.gather(*busy)
    rows = await asyncio.gather(*(pool.fetchrow(SLOW_PID, [0.05]) for _ in range(3)))
    assert len({row["pid"] for row in rows}) == 3


async def test_close_closes_idle_connections_and_those_given_back_later(pool: DriverPool) -> None:
    quick = asyncio.create_task(pool.fetchrow(SLOW_PID, [0.01]))
    sql = marked_slow_pid()
    slow = asyncio.create_task(pool.fetchrow(sql, [0.5]))
    idle_pid = (await quick)["pid"]
    await asyncio.wait_for(running(sql, 1), timeout=30)
    await pool.close()
    assert not slow.done()  # closed while it ran: its connection is given back after
    busy_pid = (await slow)["pid"]
    assert busy_pid != idle_pid
    assert await _backend_gone(idle_pid)
    assert await _backend_gone(busy_pid)


async def test_a_connection_idle_past_the_timeout_is_closed_and_replaced(postgres: None) -> None:
    now = [1000.0]
    pool = DriverPool(admin_dsn(), max_size=3, idle_timeout=300, clock=lambda: now[0])
    try:
        first = (await pool.fetchrow(PID, []))["pid"]
        now[0] += 299
        assert (await pool.fetchrow(PID, []))["pid"] == first  # within the timeout: kept
        now[0] += 301
        assert (await pool.fetchrow(PID, []))["pid"] != first
        assert await _backend_gone(first)
    finally:
        await pool.close()


async def _backend_gone(pid: int) -> bool:
    conn = await asyncpg.connect(admin_dsn())
    try:
        for _ in range(50):
            if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await conn.close()
