"""Engine and session factories: the one unit of work per request or job.

SQLite runs in WAL mode with a busy timeout. Its default deferred BEGIN lets two writers both
read, then fail to upgrade their lock with "database is locked"; write transactions therefore
start with BEGIN IMMEDIATE, which queues writers instead so a compare-and-set sees a clean result,
each in its turn (app.db.sqlite_writers): a write that cannot get one in time is DatabaseBusy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.errors import DatabaseBusy
from app.db.driver import DEFAULT_TIMEOUTS, DriverPool, Timeouts
from app.db.faults import database_answered
from app.db.sqlite_writers import WriterTurns, is_busy

if TYPE_CHECKING:
    from app.core.config import Settings

log = logging.getLogger(__name__)
_BEGIN_OPTION = "lekhamudra_sqlite_begin"
_AFTER_COMMIT = "lekhamudra_after_commit"
_AFTER_FINISH = "lekhamudra_after_finish"


async def _run(callbacks: list[Callable[[], Awaitable[object]]]) -> None:
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # what the callback did is recoverable; the transaction's outcome stands
            log.exception("after-transaction callback failed")


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[object]]) -> None:
    """Run `callback` once the unit of work has committed (never if it rolls back).

    For side effects outside the database that must not happen for a change that is not saved:
    enqueueing a job for a new row, deleting an object whose row is gone. A failing callback is
    logged, not raised: the change is saved, and each such effect has a recovery (the OCR reaper
    re-enqueues lost jobs; an orphaned object costs only space).
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def after_finish(session: AsyncSession, callback: Callable[[], Awaitable[object]]) -> None:
    """Run `callback` once the unit of work has ended, committed or rolled back.

    For records that must survive the request's rollback (a refused login's audit event). They
    run after the transaction so that, on SQLite, they never wait on the request's own write lock.
    """
    session.info.setdefault(_AFTER_FINISH, []).append(callback)


def configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, turns: WriterTurns | None = None) -> None:
    """WAL, the busy timeout and foreign keys on each connection; BEGIN as the execution option
    `_BEGIN_OPTION` says, an IMMEDIATE one in its turn when `turns` are given."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode == "IMMEDIATE" and turns is not None:
            turns.begin(conn)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> BaseException | None:
        return DatabaseBusy() if is_busy(context.original_exception) else None

    if turns is not None:

        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                turns.end(record.info)


def replace_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection whose server closed it while it sat idle (a restart, a terminated
    backend, a cut network) is replaced at checkout, not handed to a request that would fail.

    asyncpg learns of the close as soon as its socket does, so this asks the driver rather than
    the server: no round trip, unlike `pool_pre_ping`. A connection that dies silently (no FIN or
    reset reaches us) is left to the statement timeout.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection._connection.is_closed():
            # The pool discards it and checks out another (a new one if none is left).
            raise exc.DisconnectionError("the server closed this connection while it was idle")


class Database:
    """Owns the engine; hands out read and write sessions."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        driver_pool_size: int = 4,
        busy_timeout_ms: int = 10_000,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        write_wait_ms: int = 30_000,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.driver_pool_size = driver_pool_size
        self.timeouts = timeouts
        # The driver's own connections for prepared statements (app.db.prepared), made on first use in
        # the loop that uses it; PostgreSQL only.
        self._driver_pool: DriverPool | None = None
        self._driver_loop: asyncio.AbstractEventLoop | None = None
        self._driver_lock: asyncio.Lock | None = None
        # Statement parameters (emails, password hashes, tokens' digests, content) never appear
        # in an error's text, so never in a log.
        kwargs: dict[str, Any] = {"pool_pre_ping": False, "hide_parameters": True}
        if not self.is_sqlite:
            # Overflow connections are closed when returned: keep the steady state inside the pool.
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max(2, pool_size // 2),
                pool_timeout=timeouts.acquire,
                connect_args=timeouts.connect_args(),
            )
        self.engine = create_async_engine(url, **kwargs)
        # SQLite's write transactions of this process, in their turns (app.db.sqlite_writers).
        self.writer_turns = WriterTurns(write_wait_ms / 1000) if self.is_sqlite else None
        if self.writer_turns is not None:
            configure_sqlite(self.engine, busy_timeout_ms, self.writer_turns)
        else:
            replace_closed_connections(self.engine)
        self.write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        # Single-statement reads (the session check on every request) skip BEGIN/ROLLBACK on
        # PostgreSQL; SQLite keeps its own BEGIN handling above.
        self.read_engine = (
            self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, pool_size: int | None = None, driver_pool_size: int | None = None
    ) -> Database:
        """The database as configured: the API's pools by default, smaller ones for a worker or a
        command; the same waits and timeouts everywhere."""
        return cls(
            settings.sqlalchemy_url,
            pool_size=settings.db_pool_size if pool_size is None else pool_size,
            driver_pool_size=settings.db_driver_pool_size if driver_pool_size is None else driver_pool_size,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            timeouts=Timeouts.of(settings),
            write_wait_ms=settings.sqlite_write_wait_ms,
        )

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """Commit once on success, roll back on any error; then run the `after_commit` callbacks."""
        async with self.session(write=write) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                session.info.pop(_AFTER_COMMIT, None)
                await session.rollback()
                await _run(session.info.pop(_AFTER_FINISH, []))
                raise
            database_answered()
            await _run(session.info.pop(_AFTER_COMMIT, []) + session.info.pop(_AFTER_FINISH, []))

    async def driver_pool(self) -> DriverPool | None:
        """The driver's connections to this database (PostgreSQL), or None: on SQLite, or in an event
        loop other than the one that made it (a CLI command, a worker thread): use the engine."""
        if self.is_sqlite:
            return None
        loop = asyncio.get_running_loop()
        if self._driver_loop is None:
            self._driver_loop, self._driver_lock = loop, asyncio.Lock()
        if loop is not self._driver_loop or self._driver_lock is None:
            return None
        if self._driver_pool is None:
            async with self._driver_lock:
                if self._driver_pool is None:
                    dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
                    self._driver_pool = DriverPool(dsn, max_size=self.driver_pool_size, timeouts=self.timeouts)
        return self._driver_pool

    async def dispose(self) -> None:
        if self._driver_pool is not None and self._driver_loop is asyncio.get_running_loop():
            await self._driver_pool.close()
        self._driver_pool = self._driver_loop = self._driver_lock = None
        await self.engine.dispose()
