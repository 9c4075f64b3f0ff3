"""Hot reads (app/db/hot.py): a read that fails leaves nothing behind.

On PostgreSQL they run on the driver's own connections (app.db.driver), never reset; asyncpg leaves a
connection mid-statement, holding its table locks, when it cannot encode an argument."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.prepared import PreparedQuery
from app.models import Document
from tests.databases import is_postgres
from tests.locks import until_no_lock_on

FIRST_IDS = PreparedQuery(sa.select(Document.id).order_by(Document.id).limit(sa.bindparam("n", type_=sa.Integer)))


async def test_a_hot_read_that_fails_holds_no_lock_and_the_next_one_works(app: FastAPI) -> None:
    db = app.state.db
    with pytest.raises(Exception, match="int"):  # asyncpg: out of int32 range; sqlite3: too large
        await FIRST_IDS.all(db, n=2**70)

    if is_postgres():
        # The failed statement's connection was closed by us; its server process lets its locks
        # go when it notices. Then what a migration does first, failing at once on any lock held,
        # succeeds.
        await until_no_lock_on(db.engine, "documents")
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE NOWAIT"))
    assert await FIRST_IDS.all(db, n=1) == []
