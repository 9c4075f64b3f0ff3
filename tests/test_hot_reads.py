"""Hot reads (app/db/hot.py): a read that fails leaves nothing behind.

On PostgreSQL they run on the driver's own connections (app.db.driver), never reset; asyncpg leaves a
connection mid-statement, holding its table locks, when it cannot encode an argument."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from app.db.prepared import PreparedQuery
from app.db.session import Database
from app.models import Document
from tests.databases import is_postgres

FIRST_IDS = PreparedQuery(sa.select(Document.id).order_by(Document.id).limit(sa.bindparam("n", type_=sa.Integer)))


async def test_a_hot_read_that_fails_holds_no_lock_and_the_next_one_works(app: FastAPI) -> None:
    db = app.state.db
    with pytest.raises(Exception, match="int"):  # asyncpg: out of int32 range; sqlite3: too large
        await FIRST_IDS.all(db, n=2**70)

    if is_postgres():
        # What a migration does first: fails at once if any connection still holds a lock. The
        # failed statement's connection was closed by us; its server process lets its locks go
        # when it notices, which on a loaded machine can take a moment: wait for that, bounded.
        await _lock_documents_within(seconds=10, db=db)
    assert await FIRST_IDS.all(db, n=1) == []


async def _lock_documents_within(*, seconds: float, db: Database) -> None:
    for _ in range(int(seconds / 0.05)):
        async with db.engine.connect() as conn:
            try:
                await conn.execute(sa.text("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE NOWAIT"))
                return
            except DBAPIError:
                pass
            finally:
                await conn.rollback()
        await asyncio.sleep(0.05)
    raise AssertionError(f"a lock on documents was still held after {seconds:g} s")
