"""Statements compiled once and run straight on the driver on PostgreSQL.

Every request checks its session and most read one document. On PostgreSQL, SQLAlchemy's work per
call (building the statement, its cache key, the greenlet hop, the pool's events, result
processing) costs several times the query itself (docs/benchmarks.md). A `PreparedQuery` is written
once with SQLAlchemy (so the visibility rule and the column names stay in one place), compiled once
for asyncpg, and run on the driver's own connections (app.db.driver). On SQLite, and outside the
server's event loop, it runs through the engine as any Core statement. Both return rows as
mappings with the same values.

Only for single SELECTs whose columns asyncpg decodes itself to what the models hold: uuid,
timestamptz (aware UTC), text, integers, booleans; parameters of those types too (JSON goes as
text cast in the statement).

A `PreparedWrite` is a write's one PostgreSQL statement (app.db.writes.Write), compiled the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from app.db.driver import DriverPool
from app.db.session import Database


class Row(Protocol):
    """A row read by column name: SQLAlchemy's RowMapping or asyncpg's Record (which is not a
    Mapping: iterating it gives values)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


AnySelect = sa.Select[*tuple[Any, ...]]  # a select of any columns


class _Compiled:
    """A statement compiled once for asyncpg, its parameters given by name per call."""

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=asyncpg_dialect())
        # IN over a fixed list is expanded here, once, not per call; the call's own parameters
        # are left as placeholders (None) to be given positionally ($1, $2...).
        placeholders = {key: None for key, bind in compiled.binds.items() if bind.required}
        expanded = compiled.construct_expanded_state(placeholders)
        self.sql = expanded.statement
        self.names = tuple(expanded.positiontup or ())
        # Values the statement holds itself (a CASE's 'owner', the roles of an IN).
        self.defaults = {key: value for key, value in expanded.parameters.items() if key not in placeholders}

    def _args(self, params: dict[str, Any]) -> list[Any]:
        values = self.defaults | params
        return [values[name] for name in self.names]


class PreparedQuery(_Compiled):
    async def first(self, db: Database, **params: Any) -> Row | None:
        pool = await db.driver_pool()
        if pool is None:
            async with db.read_engine.connect() as conn:
                return (await conn.execute(self.statement, params)).mappings().first()
        return await pool.fetchrow(self.sql, self._args(params), idempotent=True)

    async def all(self, db: Database, **params: Any) -> list[Row]:
        pool = await db.driver_pool()
        if pool is None:
            async with db.read_engine.connect() as conn:
                return list((await conn.execute(self.statement, params)).mappings().all())
        return list(await pool.fetch(self.sql, self._args(params), idempotent=True))


class PreparedWrite(_Compiled):
    async def run(self, pool: DriverPool, **params: Any) -> Row | None:
        return await pool.fetchrow(self.sql, self._args(params))
