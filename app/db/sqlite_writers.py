"""SQLite's writers take turns: one at a time in a process, in order of arrival, and across
processes a BEGIN IMMEDIATE tried again with jittered backoff; past a bounded wait, DatabaseBusy.

SQLite lets one writer in at a time. Left to its busy handler alone, a process's writers poll for
the lock in no order, and a writer that keeps losing fails with "database is locked" after the
busy timeout, however little the others still had to do. So a write transaction first waits its
turn on an asyncio.Lock of its process (FIFO), which it holds until its connection goes back to
the pool (after COMMIT or ROLLBACK). Only the head of each process's queue then contends for
SQLite's lock; when the busy handler gives up, BEGIN IMMEDIATE is tried again after a random
pause (so processes do not retry in step) until the wait is over.

Both waits happen inside SQLAlchemy's `begin` event, which runs in the greenlet of its async
engine: `run_async` awaits there, as SQLAlchemy's own drivers do. Any "database is locked" an
engine meets is DatabaseBusy (`handle_error`), never a bare driver error.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from typing import Any
from weakref import WeakKeyDictionary

from app.core.errors import DatabaseBusy

_HELD = "lekhamudra_writer_turn"  # in a pooled connection's info: the lock it holds
_FIRST_PAUSE, _MAX_PAUSE = 0.01, 0.5  # seconds, between BEGIN IMMEDIATE attempts


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY and its extended codes)."""
    return isinstance(error, sqlite3.OperationalError) and getattr(error, "sqlite_errorname", "").startswith(
        "SQLITE_BUSY"
    )


class WriterTurns:
    """Write transactions' turns on one SQLite database: at most `wait_s` seconds of waiting for
    one, in the process's queue and for SQLite's lock together."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        # One queue per event loop (the app's, a CLI command's, a worker's): a lock serves one loop.
        self._queues: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()
        self._holders: WeakKeyDictionary[asyncio.Lock, asyncio.Task[Any]] = WeakKeyDictionary()
        self.waiting = 0  # write transactions of this process waiting for their turn now

    def begin(self, conn: Any) -> None:
        """BEGIN IMMEDIATE on `conn` (a sync Connection of an async engine), in turn; called from
        its `begin` event. DatabaseBusy when the wait is over."""
        deadline = time.monotonic() + self.wait_s
        lock = self._queues.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        task = asyncio.current_task()
        if lock.locked() and self._holders.get(lock) is task:
            # It would wait for itself until the deadline.
            raise RuntimeError("a SQLite write transaction began inside another one of the same task")
        driver = conn.connection.dbapi_connection
        driver.run_async(lambda _: self._acquire(lock, deadline))
        try:
            pause = _FIRST_PAUSE
            while True:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    break
                except DatabaseBusy:  # the busy handler gave up: another process is writing
                    if time.monotonic() + pause >= deadline:
                        raise
                    driver.run_async(lambda _, pause=pause: asyncio.sleep(random.uniform(0, pause)))  # noqa: S311  # jitter, not a secret
                    pause = min(pause * 2, _MAX_PAUSE)
        except BaseException:
            lock.release()
            raise
        if task is not None:
            self._holders[lock] = task
        conn.connection.info[_HELD] = lock

    async def _acquire(self, lock: asyncio.Lock, deadline: float) -> None:
        self.waiting += 1
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await lock.acquire()
        except TimeoutError:
            raise DatabaseBusy() from None
        finally:
            self.waiting -= 1

    def end(self, record_info: dict[str, Any]) -> None:
        """The turn a connection going back to the pool held, if any, passes on."""
        lock = record_info.pop(_HELD, None)
        if lock is not None:
            self._holders.pop(lock, None)
            lock.release()
