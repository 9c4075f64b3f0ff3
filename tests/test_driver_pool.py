"""The driver's connections for hot statements (app.db.driver), on a real PostgreSQL server:
bounded, reused, a failed or cancelled statement's connection never reused, nothing leaked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.db.driver import DriverPool
from main import create_app
from tests.conftest import make_settings
from tests.locks import Gate
from tests.processes import admin_dsn, eventually

PID = "SELECT pg_backend_pid() AS pid"
GATED = Gate.STATEMENT


@pytest.fixture
async def pool(postgres: None) -> AsyncIterator[DriverPool]:
    made = DriverPool(admin_dsn(), max_size=3)
    try:
        yield made
    finally:
        await made.close()


def gate() -> Gate:
    return Gate(admin_dsn())


async def test_one_connection_serves_statements_one_after_another(pool: DriverPool) -> None:
    pids = {(await pool.fetchrow(PID, []))["pid"] for _ in range(5)}
    assert len(pids) == 1


async def test_no_more_connections_than_max_size_however_many_statements_wait(pool: DriverPool) -> None:
    async with gate() as held:
        statements = [asyncio.create_task(pool.fetchrow(GATED, [held.key])) for _ in range(12)]
        await held.until_waiting(3)  # max_size statements on the server at once; the rest wait for them
    rows = await asyncio.gather(*statements)
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

        async def orm_pid(key: int) -> int:
            async with db.session(write=False) as session:
                return (await session.execute(Gate.ORM_STATEMENT, {"key": key})).scalar_one()

        async with gate() as held:
            hot = [asyncio.create_task(pool.fetchrow(GATED, [held.key])) for _ in range(12)]
            await held.until_waiting(2)
            # The ORM's pool is its own: its six connections run beside the driver's two.
            orm = [asyncio.create_task(orm_pid(held.key)) for _ in range(6)]
            await held.until_waiting(2 + 6)
        rows = await asyncio.gather(*hot)
        orm_pids = set(await asyncio.gather(*orm))
        assert len({row["pid"] for row in rows}) == 2
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
    await _until_backend_gone(before)


async def test_a_statement_cancelled_midway_gives_back_its_slot_and_drops_its_connection(pool: DriverPool) -> None:
    async with gate() as held:
        cancelled = asyncio.create_task(pool.fetchrow(GATED, [held.key]))
        await held.until_waiting(1)  # on the server, midway
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    await _all_three_slots_free(pool)


async def test_a_caller_cancelled_while_waiting_for_a_slot_takes_none(pool: DriverPool) -> None:
    async with gate() as held:
        busy = [asyncio.create_task(pool.fetchrow(GATED, [held.key])) for _ in range(3)]
        await held.until_waiting(3)  # each holds a slot
        asked = asyncio.Event()

        async def wait_for_a_slot() -> object:
            asked.set()  # and without a turn of the loop in between, waits on the slots
            return await pool.fetchrow(PID, [])

        waiting = asyncio.create_task(wait_for_a_slot())
        await asked.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    await asyncio.gather(*busy)
    await _all_three_slots_free(pool)


async def test_close_closes_idle_connections_and_those_given_back_later(pool: DriverPool) -> None:
    async with gate() as held:
        busy = asyncio.create_task(pool.fetchrow(GATED, [held.key]))
        await held.until_waiting(1)
        idle_pid = (await pool.fetchrow(PID, []))["pid"]  # on a second connection, idle after
        await pool.close()
        assert not busy.done()  # closed while it ran: its connection is given back after
    busy_pid = (await busy)["pid"]
    assert busy_pid != idle_pid
    await _until_backend_gone(idle_pid)
    await _until_backend_gone(busy_pid)


async def test_a_connection_idle_past_the_timeout_is_closed_and_replaced(postgres: None) -> None:
    now = [1000.0]
    pool = DriverPool(admin_dsn(), max_size=3, idle_timeout=300, clock=lambda: now[0])
    try:
        first = (await pool.fetchrow(PID, []))["pid"]
        now[0] += 299
        assert (await pool.fetchrow(PID, []))["pid"] == first  # within the timeout: kept
        now[0] += 301
        assert (await pool.fetchrow(PID, []))["pid"] != first
        await _until_backend_gone(first)
    finally:
        await pool.close()


async def _all_three_slots_free(pool: DriverPool) -> None:
    """Three statements at once reach the server, each on a connection of its own."""
    async with gate() as held:
        statements = [asyncio.create_task(pool.fetchrow(GATED, [held.key])) for _ in range(3)]
        await held.until_waiting(3)
    rows = await asyncio.gather(*statements)
    assert len({row["pid"] for row in rows}) == 3


async def _until_backend_gone(pid: int) -> None:
    """Until the server has no backend `pid` (a closed connection's backend ends when it notices)."""
    conn = await asyncpg.connect(admin_dsn())

    async def gone() -> bool:
        return not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

    try:
        await eventually(gone, within=10, interval=0.01, what=f"backend {pid} to end")
    finally:
        await conn.close()
