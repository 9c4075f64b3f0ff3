"""Documents: data access only. Every query goes through the visibility rule.

The rows a create or an edit writes are defined here as a write's anchor and steps
(app.db.writes): `insert_document` or `update_at_version`, then `version_rows`; the service
that composes a write adds the index row, the event and the "recent" row (app.services.writes).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Executable,
    FromClause,
    Insert,
    Integer,
    Update,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.visibility import document_visible_to, has_role, role_of
from app.db.rows import rows_changed
from app.models import Document, DocumentVersion, OcrPage

# What a write's anchor returns: what its steps read, and the document's columns a reader sees.
_RETURNED = (
    Document.id,
    Document.owner_id,
    Document.title,
    Document.content,
    Document.version,
    Document.created_at,
    Document.created_by,
    Document.updated_at,
    Document.updated_by,
    Document.trashed_at,
)
_NEW_COLUMNS = ("id", "owner_id", "title", "content", "version", "created_at", "updated_at", "created_by", "updated_by")


def insert_document(owner: ColumnElement[uuid.UUID]) -> Insert:
    """A create's anchor: a new document at version 1, owned (and created) by `owner`, a
    parameter or a column of a relation the statement reads (a live session's user). Parameters:
    `document_id`, `title`, `content`, `now`."""
    now = bindparam("now", type_=Document.created_at.type)
    values = [
        bindparam("document_id", type_=Document.id.type),
        owner,
        bindparam("title", type_=Document.title.type),
        bindparam("content", type_=Document.content.type),
        literal(1, Integer),
        now,
        now,
        owner,
        owner,
    ]
    return insert(Document).from_select(list(_NEW_COLUMNS), select(*values)).returning(*_RETURNED)


def update_at_version() -> Update:
    """An edit's anchor: the new title and content (`title`, `content`) of document
    `document_id`, by `author_id` at `now`, made to version `read_version` with `page_count` OCR
    pages. It writes nothing (and returns no row) if the version moved on, the document went to
    the trash or its OCR pages changed since they were read (OCR may finish in between: the
    index row is made of the pages that were read)."""
    author = bindparam("author_id", type_=Document.updated_by.type)
    return (
        update(Document)
        .where(
            Document.id == bindparam("document_id", type_=Document.id.type),
            Document.version == bindparam("read_version", type_=Integer),
            Document.trashed_at.is_(None),
            select(func.count()).where(OcrPage.document_id == Document.id).scalar_subquery()
            == bindparam("page_count", type_=Integer),
        )
        .values(
            title=bindparam("title", type_=Document.title.type),
            content=bindparam("content", type_=Document.content.type),
            version=Document.version + 1,
            updated_at=bindparam("now", type_=Document.updated_at.type),
            updated_by=author,
        )
        .returning(*_RETURNED)
    )


def version_rows(source: FromClause) -> list[Executable]:
    """A write's step: the document's title and content as its version `version`, by its
    `updated_by` at its `updated_at` (`source`: the anchor's row)."""
    columns = ["document_id", "version", "title", "content", "author_id", "created_at"]
    c = source.c
    return [
        insert(DocumentVersion).from_select(
            columns, select(c.id, c.version, c.title, c.content, c.updated_by, c.updated_at)
        )
    ]


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
    stmt = select(Document, role_of(user_id)).where(Document.id == document_id, has_role(user_id))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row and row[1] is not None else None


async def lock_document(*, session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """The document, locked until the caller commits (PostgreSQL's FOR UPDATE, which also holds
    off new OCR pages; SQLite's writers go one at a time), as it now is."""
    stmt = (
        select(Document).where(Document.id == document_id).with_for_update().execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


async def get_visible_document(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    stmt = select(Document).where(Document.id == document_id, document_visible_to(user_id))
    return await session.scalar(stmt)


async def set_trashed(*, session: AsyncSession, document_id: uuid.UUID, trashed_at: datetime | None) -> bool:
    """Move into the trash (a time) or out of it (None); False if it already was there (or out),
    as when two requests race: only one of them changes the row."""
    already = Document.trashed_at.is_not(None) if trashed_at is not None else Document.trashed_at.is_(None)
    stmt = update(Document).where(Document.id == document_id, ~already).values(trashed_at=trashed_at)
    return await rows_changed(session=session, statement=stmt) == 1


async def delete_document(*, session: AsyncSession, document_id: uuid.UUID) -> bool:
    """Delete the row (versions, shares, links, stars, recents, file row and OCR rows cascade);
    False if it was already gone."""
    return await rows_changed(session=session, statement=delete(Document).where(Document.id == document_id)) == 1


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
