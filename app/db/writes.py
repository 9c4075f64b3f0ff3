"""A write of several rows, defined once: an anchor statement and the steps that follow from it.

The anchor is an INSERT or UPDATE ... RETURNING; each step is a statement built over a relation
holding the anchor's returned row (`source`), writing from it (a version row, an index row, an
event). There is one list of them per write, and two ways to run it, chosen by the engine alone:

- PostgreSQL: one statement, the anchor and the steps as data-modifying CTEs
  (`WITH anchor AS (UPDATE ... RETURNING ...), step_1 AS (INSERT ... SELECT ... FROM anchor) ...
  SELECT * FROM anchor`): atomic by itself and one round trip. The steps see the anchor's row
  only through `source` (a CTE cannot see what another one wrote in the tables).
- Elsewhere (SQLite has no INSERT inside WITH): the anchor, then each step with the anchor's row
  as parameters (`source` is `SELECT :anchor_id AS id, ...`), in the caller's transaction.

Either way, when the anchor writes no row (an UPDATE whose WHERE no longer holds), no step writes
anything and the answer is None. tests/test_writes.py runs each write both ways on PostgreSQL
and compares the rows they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.prepared import AnySelect, PreparedWrite, Row
from app.db.session import Database

Anchor = sa.Insert | sa.Update
Step = Callable[[sa.FromClause], Sequence[sa.Executable]]
_SOURCE_PARAM = "anchor_"


class Write:
    """`anchor` (with RETURNING) and the steps that write from its row. `answer`: what the one
    statement answers instead of the anchor's row (a select over the anchor's CTE, for a write
    that asks more of its statement); such a write runs as one statement only (PostgreSQL)."""

    def __init__(
        self, anchor: Anchor, steps: Sequence[Step], answer: Callable[[sa.CTE], AnySelect] | None = None
    ) -> None:
        self.anchor = anchor
        self.steps = tuple(steps)
        self.answer = answer

    @cached_property
    def statement(self) -> AnySelect:
        """The write as one PostgreSQL statement."""
        anchor = self.anchor.cte("anchor")
        statements = [statement for step in self.steps for statement in step(anchor)]
        ctes = [statement.cte(f"step_{number}") for number, statement in enumerate(statements, 1)]  # type: ignore[attr-defined]  # every DML statement has .cte()
        return (self.answer(anchor) if self.answer else sa.select(anchor)).add_cte(*ctes)

    @cached_property
    def prepared(self) -> PreparedWrite:
        """`one_statement()`, compiled once for the driver (app.db.prepared)."""
        return PreparedWrite(self.statement)

    @cached_property
    def _in_sequence(self) -> tuple[sa.Executable, ...]:
        returned = self.anchor.exported_columns
        source = sa.select(
            *(sa.bindparam(f"{_SOURCE_PARAM}{column.key}", type_=column.type).label(column.key) for column in returned)
        ).subquery("anchor")
        return tuple(statement for step in self.steps for statement in step(source))

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> Row | None:
        """Run in the caller's unit of work (pending ORM changes are flushed first): one
        statement on PostgreSQL, in sequence elsewhere."""
        await session.flush()
        return await self._run_on(await session.connection(), params)

    async def run_alone(self, db: Database, params: Mapping[str, Any]) -> Row | None:
        """Run as a transaction of its own: on PostgreSQL on the driver's connections when this
        event loop has them (app.db.session.Database.driver_pool), else through the engine."""
        pool = await db.driver_pool()
        if pool is not None:
            return await self.prepared.run(pool, **params)
        async with db.write_engine.begin() as conn:
            return await self._run_on(conn, params)

    async def _run_on(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        """The composition this connection's engine takes: one statement on PostgreSQL, in
        sequence elsewhere."""
        if conn.dialect.name == "postgresql":
            return await self.run_as_one(conn, params)
        return await self.run_in_sequence(conn, params)

    async def run_as_one(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        return (await conn.execute(self.statement, dict(params))).mappings().first()

    async def run_in_sequence(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Row | None:
        if self.answer is not None:
            raise TypeError("a write with an answer of its own runs as one statement only")
        row = (await conn.execute(self.anchor, dict(params))).mappings().first()
        if row is None:
            return None
        from_anchor = dict(params) | {f"{_SOURCE_PARAM}{key}": value for key, value in row.items()}
        for statement in self._in_sequence:
            await conn.execute(statement, from_anchor)
        return row
