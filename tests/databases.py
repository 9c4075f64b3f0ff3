"""Test databases: a temporary SQLite file by default, a fresh PostgreSQL database when
TEST_DATABASE_URL names a server (the database in that URL is only used to create and drop ours).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith(("postgresql", "postgres"))


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """Yield a plain database URL for an empty database that is removed afterwards."""
    if not is_postgres():
        yield f"sqlite:///{tmp_dir / f'test-{uuid.uuid4().hex[:8]}.db'}"
        return
    import asyncio

    import asyncpg

    admin = sa.make_url(TEST_DATABASE_URL)
    name = f"lekhamudra_test_{uuid.uuid4().hex[:12]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
