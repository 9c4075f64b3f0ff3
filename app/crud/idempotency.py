"""Idempotency keys: data access only. The row is written as a step of a create (app.db.writes),
in the same statement or transaction as the document."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Executable, FromClause, SmallInteger, String, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.prepared import Row
from app.db.rows import rows_changed
from app.db.session import Database
from app.models import IdempotencyKey


def key_rows(source: FromClause) -> list[Executable]:
    """A create's step: the key (`idempotency_key`, `request_hash`, `status_code` parameters) of
    the document in `source` (the anchor's row), for its owner, at its creation."""
    c = source.c
    values = select(
        c.owner_id,
        bindparam("idempotency_key", type_=String()),
        bindparam("request_hash", type_=String()),
        c.id,
        bindparam("status_code", type_=SmallInteger()),
        c.created_at,
    )
    columns = ["user_id", "key", "request_hash", "document_id", "status_code", "created_at"]
    return [insert(IdempotencyKey).from_select(columns, values)]


async def get_key(*, db: Database, user_id: uuid.UUID, key: str) -> Row | None:
    """The key's row (its request_hash, document_id, status_code and created_at), expired or not."""
    statement = select(
        IdempotencyKey.request_hash, IdempotencyKey.document_id, IdempotencyKey.status_code, IdempotencyKey.created_at
    ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    async with db.read_engine.connect() as conn:
        return (await conn.execute(statement)).mappings().first()


async def delete_keys_made_before(
    *, session: AsyncSession, before: datetime, user_id: uuid.UUID | None = None, key: str | None = None
) -> int:
    """Delete keys made before `before` (of one user's one key, if given); how many went."""
    statement = delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
    if user_id is not None and key is not None:
        statement = statement.where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    return await rows_changed(session=session, statement=statement)
