"""Documents: data access only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.visibility import document_visible_to
from app.models import Document

_SUMMARY_COLUMNS = (
    Document.id,
    Document.title,
    Document.owner_id,
    Document.version,
    Document.created_at,
    Document.updated_at,
)


async def create_document(
    *, session: AsyncSession, owner_id: uuid.UUID, title: str, content: str, now: datetime
) -> Document:
    document = Document(owner_id=owner_id, title=title, content=content, version=1, created_at=now, updated_at=now)
    session.add(document)
    await session.flush()
    return document


async def get_visible_document(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    stmt = select(Document).where(Document.id == document_id, document_visible_to(user_id))
    return await session.scalar(stmt)


async def list_visible_documents(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of summaries (no content), most recently updated first, and the total."""
    visible = document_visible_to(user_id)
    total = await session.scalar(select(func.count()).select_from(Document).where(visible))
    stmt = (
        select(*_SUMMARY_COLUMNS)
        .where(visible)
        .order_by(Document.updated_at.desc(), Document.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(stmt)).mappings().all()
    return [dict(row) for row in rows], total or 0


async def update_document_if_version(
    *,
    session: AsyncSession,
    document_id: uuid.UUID,
    expected_version: int | None,
    values: dict[str, Any],
    now: datetime,
) -> Document | None:
    """Apply `values` and bump the version in one statement; None if the version moved on.

    The version check is in the UPDATE's WHERE, so of concurrent writers naming the same
    version exactly one matches a row.
    """
    stmt = (
        update(Document)
        .where(Document.id == document_id)
        .values(**values, version=Document.version + 1, updated_at=now)
        .returning(Document)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if expected_version is not None:
        stmt = stmt.where(Document.version == expected_version)
    return await session.scalar(stmt)


async def get_document_version(*, session: AsyncSession, document_id: uuid.UUID) -> int | None:
    return await session.scalar(select(Document.version).where(Document.id == document_id))


async def delete_document(*, session: AsyncSession, document_id: uuid.UUID) -> None:
    await session.execute(delete(Document).where(Document.id == document_id))
