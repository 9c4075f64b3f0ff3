"""The driver's connections for prepared statements (app.db.prepared), PostgreSQL only.

Each use is one statement in autocommit: take a connection, run it, put it back. asyncpg's Pool
does more per use than that needs (a proxy object per use, and a task to put the connection
back, shielded from cancellation), and the busiest requests would pay for it on every statement
(figures in docs/benchmarks.md). This keeps idle connections in a list, and a semaphore bounds
how many are open (taken or idle) at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from app.db.faults import database_answered

if TYPE_CHECKING:
    from app.core.config import Settings

T = TypeVar("T")
# What a connection the server had already closed raises: nothing of the statement ran.
_DEAD = (asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError, asyncpg.InterfaceError)


def _unsent(exc: BaseException, *, dead: bool, idempotent: bool) -> bool:
    """Whether a statement that failed so may be run again on another connection.

    asyncpg refuses to start a statement on a connection busy with the server's termination
    notice (InternalClientError, "another operation is in progress") before sending anything:
    any statement may go again. A connection found closed by the statement may have died after
    the server ran it: only a read goes again.
    """
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    return idempotent and dead and isinstance(exc, _DEAD)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a request may wait on PostgreSQL, in seconds: for a new connection, for a free one
    in a pool, and for one statement. A hung server then costs a request seconds, not minutes
    (it answers 503 `database_unavailable`, app.db.faults)."""

    connect: float = 5.0
    acquire: float = 5.0
    statement: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(
            connect=settings.db_connect_timeout_seconds,
            acquire=settings.db_acquire_timeout_seconds,
            statement=settings.db_statement_timeout_seconds,
        )

    def connect_args(self) -> dict[str, Any]:
        """asyncpg's connect arguments: the server cancels a statement past the timeout (its
        connection stays usable); the client gives up a little later, when the server is the
        one that does not answer."""
        return {
            "timeout": self.connect,
            "command_timeout": self.statement + 1,
            "server_settings": {"statement_timeout": str(int(self.statement * 1000))},
        }


DEFAULT_TIMEOUTS = Timeouts()


class DriverPool:
    """At most `max_size` asyncpg connections to `dsn`, opened when first needed; one left idle
    for `idle_timeout` seconds is closed (as asyncpg's Pool does after 300 s), so a burst's
    connections do not stay open for the life of the process."""

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int,
        idle_timeout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        self._dsn = dsn
        self._timeouts = timeouts
        self._slots = asyncio.Semaphore(max_size)
        self._idle_timeout = idle_timeout
        self._clock = clock
        # Most recently used last; each with the monotonic time it went idle.
        self._idle: list[tuple[asyncpg.Connection, float]] = []
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def _take(self, *, fresh: bool = False) -> tuple[asyncpg.Connection, bool]:
        """A connection, and whether it was idle here before (so may have died since)."""
        # Past the acquire timeout a TimeoutError: every connection is held by a statement that
        # has not come back (a hung server), and waiting longer helps no one.
        async with asyncio.timeout(self._timeouts.acquire):
            await self._slots.acquire()
        try:
            self._close_stale()
            while self._idle and not fresh:
                conn, _since = self._idle.pop()
                if not conn.is_closed():  # one the server closed while idle is dropped here
                    return conn, True
            return await asyncpg.connect(self._dsn, **self._timeouts.connect_args()), False
        except BaseException:
            self._slots.release()
            raise

    def _close_stale(self) -> None:
        """Close the connections idle for longer than the timeout (the oldest are first)."""
        cutoff = self._clock() - self._idle_timeout
        stale = 0
        while stale < len(self._idle) and self._idle[stale][1] < cutoff:
            stale += 1
        if stale:
            for conn, _since in self._idle[:stale]:
                task = asyncio.get_running_loop().create_task(_close(conn))
                self._closing_tasks.add(task)
                task.add_done_callback(self._closing_tasks.discard)
            del self._idle[:stale]

    def _give_back(self, conn: asyncpg.Connection, *, failed: bool) -> None:
        """A connection whose statement failed is closed, not kept: asyncpg leaves a connection
        mid-statement when it cannot encode an argument, and the server then holds that
        statement's transaction and its table locks (blocking any migration) until the
        connection's next statement."""
        if failed or self._closing or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append((conn, self._clock()))
        self._slots.release()

    async def _run(self, method: Callable[..., Awaitable[T]], sql: str, args: Sequence[Any], *, idempotent: bool) -> T:
        conn, reused = await self._take()
        try:
            result = await method(conn, sql, *args)
        except BaseException as exc:
            dead = conn.is_closed()
            self._give_back(conn, failed=True)
            if not (reused and _unsent(exc, dead=dead, idempotent=idempotent)):
                raise
            # The server was closing this idle connection when it was taken (its notice in, its
            # close not yet): run the statement once more, on a new connection.
            conn, _reused = await self._take(fresh=True)
            try:
                result = await method(conn, sql, *args)
            except BaseException:
                self._give_back(conn, failed=True)
                raise
        self._give_back(conn, failed=False)
        database_answered()
        return result

    async def fetchrow(self, sql: str, args: Sequence[Any], *, idempotent: bool = False) -> asyncpg.Record | None:
        return await self._run(asyncpg.Connection.fetchrow, sql, args, idempotent=idempotent)

    async def fetch(self, sql: str, args: Sequence[Any], *, idempotent: bool = False) -> list[asyncpg.Record]:
        return await self._run(asyncpg.Connection.fetch, sql, args, idempotent=idempotent)

    async def close(self) -> None:
        """Close the idle connections; those in use close when given back."""
        self._closing = True
        idle, self._idle = [conn for conn, _since in self._idle], []
        try:
            for conn in idle:
                await _close(conn)
        finally:
            for conn in idle:  # any left open by a cancellation: closed at once
                if not conn.is_closed():
                    conn.terminate()
        await asyncio.gather(*self._closing_tasks)


async def _close(conn: asyncpg.Connection) -> None:
    """Close gracefully, or at once if the server does not answer."""
    try:
        await conn.close(timeout=5)
    except Exception:
        conn.terminate()
