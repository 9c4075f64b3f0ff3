"""Shares, share links, stars and recents: data access only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, FromClause, delete, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.document_views import SUMMARY_COLUMNS
from app.crud.visibility import document_visible_to, role_of
from app.db.rows import rows_changed
from app.models import Document, DocumentRecent, DocumentShare, DocumentStar, ShareLink, User


async def list_members(*, session: AsyncSession, document_id: uuid.UUID) -> list[tuple[User, str]]:
    """The owner first, then members by email."""
    owner = await session.scalar(
        select(User).join(Document, Document.owner_id == User.id).where(Document.id == document_id)
    )
    stmt = (
        select(User, DocumentShare.role)
        .join(DocumentShare, DocumentShare.user_id == User.id)
        .where(DocumentShare.document_id == document_id)
        .order_by(User.email_key)
    )
    members = [(row[0], row[1]) for row in await session.execute(stmt)]
    return ([(owner, "owner")] if owner else []) + members


async def get_share(*, session: AsyncSession, document_id: uuid.UUID, user_id: uuid.UUID) -> DocumentShare | None:
    return await session.get(DocumentShare, (document_id, user_id))


async def add_share(
    *, session: AsyncSession, document_id: uuid.UUID, user_id: uuid.UUID, role: str, now: datetime
) -> DocumentShare:
    share = DocumentShare(document_id=document_id, user_id=user_id, role=role, created_at=now)
    session.add(share)
    await session.flush()
    return share


async def delete_share(*, session: AsyncSession, document_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    statement = delete(DocumentShare).where(DocumentShare.document_id == document_id, DocumentShare.user_id == user_id)
    return await rows_changed(session=session, statement=statement) == 1


async def set_star(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID, now: datetime) -> None:
    """Star it; starring twice, even at the same moment from two requests, leaves one star."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(DocumentStar).values(user_id=user_id, document_id=document_id, created_at=now)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "document_id"]))


async def clear_star(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
    await session.execute(
        delete(DocumentStar).where(DocumentStar.user_id == user_id, DocumentStar.document_id == document_id)
    )


def recent_rows(dialect: str) -> Callable[[FromClause], list[Executable]]:
    """A write's step (app.db.writes): its author's "recent" row for the document, at the
    write's time (`source`: the anchor's row, with id, updated_by and updated_at)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert

    def rows(source: FromClause) -> list[Executable]:
        c = source.c
        stmt = insert(DocumentRecent).from_select(
            ["user_id", "document_id", "seen_at"],
            # SQLite reads `SELECT ... ON CONFLICT` as a join's ON unless the select has a WHERE.
            select(c.updated_by, c.id, c.updated_at).where(true()),
        )
        return [
            stmt.on_conflict_do_update(
                index_elements=[DocumentRecent.user_id, DocumentRecent.document_id],
                set_={"seen_at": stmt.excluded.seen_at},
                where=DocumentRecent.seen_at <= stmt.excluded.seen_at,
            )
        ]

    return rows


async def touch_recent(
    *, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID, now: datetime, every: timedelta
) -> bool:
    """Record that the user opened the document, at most once per `every`; True if it wrote."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(DocumentRecent).values(user_id=user_id, document_id=document_id, seen_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DocumentRecent.user_id, DocumentRecent.document_id],
        set_={"seen_at": now},
        where=DocumentRecent.seen_at <= now - every,
    )
    return await rows_changed(session=session, statement=stmt) == 1


async def list_recent(*, session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    stmt = (
        select(*SUMMARY_COLUMNS, role_of(user_id).label("role"), DocumentRecent.seen_at)
        .join(DocumentRecent, DocumentRecent.document_id == Document.id)
        .where(DocumentRecent.user_id == user_id, document_visible_to(user_id))
        .order_by(DocumentRecent.seen_at.desc())
        .limit(limit)
    )
    return [dict(row) for row in (await session.execute(stmt)).mappings().all()]


async def create_link(
    *,
    session: AsyncSession,
    document_id: uuid.UUID,
    token_hash: str,
    password_hash: str | None,
    expires_at: datetime | None,
    created_by: uuid.UUID,
    now: datetime,
) -> ShareLink:
    link = ShareLink(
        document_id=document_id,
        token_hash=token_hash,
        password_hash=password_hash,
        expires_at=expires_at,
        created_by=created_by,
        created_at=now,
        access_count=0,
    )
    session.add(link)
    await session.flush()
    return link


async def count_live_links(*, session: AsyncSession, document_id: uuid.UUID, now: datetime) -> int:
    """Links not revoked and not expired. On PostgreSQL the document's row is locked first, so
    two creations at once count one after the other (SQLite's writers already queue)."""
    await session.execute(select(Document.id).where(Document.id == document_id).with_for_update())
    live = (
        select(func.count())
        .select_from(ShareLink)
        .where(
            ShareLink.document_id == document_id,
            ShareLink.revoked_at.is_(None),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
        )
    )
    return await session.scalar(live) or 0


async def list_links(*, session: AsyncSession, document_id: uuid.UUID) -> list[ShareLink]:
    stmt = select(ShareLink).where(ShareLink.document_id == document_id).order_by(ShareLink.created_at.desc())
    return list((await session.scalars(stmt)).all())


async def revoke_link(*, session: AsyncSession, document_id: uuid.UUID, link_id: uuid.UUID, now: datetime) -> bool:
    statement = (
        update(ShareLink)
        .where(ShareLink.id == link_id, ShareLink.document_id == document_id, ShareLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await rows_changed(session=session, statement=statement) == 1


async def get_link_by_token_hash(*, session: AsyncSession, token_hash: str) -> tuple[ShareLink, Document] | None:
    stmt = (
        select(ShareLink, Document)
        .join(Document, Document.id == ShareLink.document_id)
        .where(ShareLink.token_hash == token_hash)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def count_link_access(*, session: AsyncSession, link_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ShareLink)
        .where(ShareLink.id == link_id)
        .values(access_count=ShareLink.access_count + 1, last_accessed_at=now)
    )
