"""Documents: data access only. Every query goes through the visibility rule."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.visibility import document_visible_to, role_of
from app.models import Document, DocumentShare, DocumentStar, DocumentVersion

Scope = Literal["all", "owned", "shared"]
_SORT_COLUMNS = {"updated": Document.updated_at, "created": Document.created_at, "title": Document.title}
SUMMARY_COLUMNS = (
    Document.id,
    Document.title,
    Document.owner_id,
    Document.version,
    Document.created_at,
    Document.updated_at,
    Document.created_by,
    Document.updated_by,
    Document.trashed_at,
)


async def create_document(
    *, session: AsyncSession, owner_id: uuid.UUID, title: str, content: str, now: datetime
) -> Document:
    document = Document(
        owner_id=owner_id,
        title=title,
        content=content,
        version=1,
        created_at=now,
        updated_at=now,
        created_by=owner_id,
        updated_by=owner_id,
    )
    session.add(document)
    await session.flush()
    await add_version(session=session, document=document, author_id=owner_id)
    return document


async def add_version(*, session: AsyncSession, document: Document, author_id: uuid.UUID | None) -> None:
    """Record the document's current title and content as its version `document.version`."""
    session.add(
        DocumentVersion(
            document_id=document.id,
            version=document.version,
            title=document.title,
            content=document.content,
            author_id=author_id,
            created_at=document.updated_at,
        )
    )
    await session.flush()


async def get_document_with_role(
    *, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID
) -> tuple[Document, str] | None:
    """The document and the caller's role on it, trashed or not; None if the caller has no role."""
    is_member = exists().where(DocumentShare.document_id == Document.id, DocumentShare.user_id == user_id)
    stmt = select(Document, role_of(user_id)).where(
        Document.id == document_id, or_(Document.owner_id == user_id, is_member)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def get_visible_document(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    stmt = select(Document).where(Document.id == document_id, document_visible_to(user_id))
    return await session.scalar(stmt)


def _list_filter(user_id: uuid.UUID, *, scope: Scope, starred: bool, trashed: bool) -> ColumnElement[bool]:
    if trashed:  # the owner's trash
        where = (Document.owner_id == user_id) & Document.trashed_at.is_not(None)
    else:
        where = document_visible_to(user_id)
        if scope == "owned":
            where = where & (Document.owner_id == user_id)
        elif scope == "shared":
            where = where & (Document.owner_id != user_id)
    if starred:
        where = where & exists().where(DocumentStar.document_id == Document.id, DocumentStar.user_id == user_id)
    return where


async def list_documents(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    scope: Scope,
    sort: str,
    starred: bool,
    trashed: bool,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of summaries (no content) with the caller's role and star, and the total."""
    where = _list_filter(user_id, scope=scope, starred=starred, trashed=trashed)
    total = await session.scalar(select(func.count()).select_from(Document).where(where))
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    is_starred = exists().where(DocumentStar.document_id == Document.id, DocumentStar.user_id == user_id)
    stmt = (
        select(*SUMMARY_COLUMNS, role_of(user_id).label("role"), is_starred.label("starred"))
        .where(where)
        .order_by(order, Document.id.desc())
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
    author_id: uuid.UUID | None,
    now: datetime,
) -> Document | None:
    """Apply `values` and bump the version in one statement; None if the version moved on.

    The version check is in the UPDATE's WHERE, so of concurrent writers naming the same
    version exactly one matches a row.
    """
    stmt = (
        update(Document)
        .where(Document.id == document_id)
        .values(**values, version=Document.version + 1, updated_at=now, updated_by=author_id)
        .returning(Document)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if expected_version is not None:
        stmt = stmt.where(Document.version == expected_version)
    return await session.scalar(stmt)


async def get_document_version(*, session: AsyncSession, document_id: uuid.UUID) -> int | None:
    return await session.scalar(select(Document.version).where(Document.id == document_id))


async def set_trashed(*, session: AsyncSession, document_id: uuid.UUID, trashed_at: datetime | None) -> None:
    await session.execute(update(Document).where(Document.id == document_id).values(trashed_at=trashed_at))


async def delete_document(*, session: AsyncSession, document_id: uuid.UUID) -> None:
    """Delete the row; versions, shares, links, stars, recents, file row and OCR rows cascade."""
    await session.execute(delete(Document).where(Document.id == document_id))


async def list_trash_older_than(*, session: AsyncSession, cutoff: datetime, limit: int) -> list[Document]:
    stmt = select(Document).where(Document.trashed_at < cutoff).order_by(Document.trashed_at).limit(limit)
    return list((await session.scalars(stmt)).all())


async def list_versions(*, session: AsyncSession, document_id: uuid.UUID) -> list[DocumentVersion]:
    stmt = (
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.version.desc())
    )
    return list((await session.scalars(stmt)).all())


async def get_version(*, session: AsyncSession, document_id: uuid.UUID, version: int) -> DocumentVersion | None:
    return await session.get(DocumentVersion, (document_id, version))
