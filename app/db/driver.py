"""The driver's connections for hot statements (app.db.hot), PostgreSQL only.

Each use is one statement in autocommit: take a connection, run it, put it back. asyncpg's Pool
does more per use than that needs (a proxy object per use, and a task to put the connection
back, shielded from cancellation): measured here, a `SELECT 1` through the pool cost 99 µs of
CPU against 59 µs on a connection held. This keeps idle connections in a list, and a semaphore
bounds how many are open (taken or idle) at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


class DriverPool:
    """At most `max_size` asyncpg connections to `dsn`, opened when first needed."""

    def __init__(self, dsn: str, *, max_size: int) -> None:
        self._dsn = dsn
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[asyncpg.Connection] = []
        self._closing = False

    async def _take(self) -> asyncpg.Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
            return await asyncpg.connect(self._dsn)
        except BaseException:
            self._slots.release()
            raise

    def _give_back(self, conn: asyncpg.Connection, *, failed: bool) -> None:
        """A connection whose statement failed is closed, not kept: asyncpg leaves a connection
        mid-statement when it cannot encode an argument, and the server then holds that
        statement's transaction and its table locks (blocking any migration) until the
        connection's next statement."""
        if failed or self._closing or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append(conn)
        self._slots.release()

    async def _run(self, method: Callable[..., Awaitable[T]], sql: str, args: Sequence[Any]) -> T:
        conn = await self._take()
        try:
            result = await method(conn, sql, *args)
        except BaseException:
            self._give_back(conn, failed=True)
            raise
        self._give_back(conn, failed=False)
        return result

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> asyncpg.Record | None:
        return await self._run(asyncpg.Connection.fetchrow, sql, args)

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        return await self._run(asyncpg.Connection.fetch, sql, args)

    async def close(self) -> None:
        """Close the idle connections; those in use close when given back."""
        self._closing = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                conn.terminate()
