"""Sessions: data access only. The lookup is plain Core: it runs on every request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.prepared import PreparedQuery, Row
from app.db.rows import rows_changed
from app.db.session import Database
from app.models import Session, User


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The signed-in user and the session they came with, as seen by the session check."""

    session_id: uuid.UUID
    session_created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    id: uuid.UUID
    email: str
    full_name: str | None
    created_at: datetime


def session_user_columns(prefix: str = "") -> list[ColumnElement[Any]]:
    """The session check's columns (a SessionUser's fields, each name after `prefix`), over
    Session joined to User: for this lookup, and for a query that answers the session check
    along with what the request reads (`caller_lookup`)."""
    columns = {
        "session_id": Session.id,
        "session_created_at": Session.created_at,
        "last_seen_at": Session.last_seen_at,
        "expires_at": Session.expires_at,
        "id": User.id,
        "email": User.email,
        "full_name": User.full_name,
        "created_at": User.created_at,
    }
    return [column.label(prefix + name) for name, column in columns.items()]


def session_user_of(row: Row, prefix: str = "") -> SessionUser:
    return SessionUser(**{name: row[prefix + name] for name in SessionUser.__slots__})


def is_live(expires_at: datetime, now: datetime) -> bool:
    """The session-is-live rule, in Python: live strictly before its `expires_at`. Its twin in
    SQL is `live_at`, side by side so that they stay one rule (tests/test_sessions.py checks that
    they agree at the boundary instants)."""
    return expires_at > now


def live_at(expires_at: ColumnElement[datetime], now: ColumnElement[datetime]) -> ColumnElement[bool]:
    """`is_live` in SQL, for a statement that writes only for a live session."""
    return expires_at > now


def caller_lookup(prefix: str = "") -> Select[Any]:
    """The session whose token hash is the parameter `token_hash`, with its user: the session
    check's columns (`session_user_columns(prefix)`), expired or not. A statement that answers
    the session check along with its own work (a read view, a create) starts from it."""
    return (
        select(*session_user_columns(prefix))
        .join(User, User.id == Session.user_id)
        .where(Session.token_hash == bindparam("token_hash"))
    )


_LOOKUP = PreparedQuery(caller_lookup())


async def get_session_user(*, db: Database, token_hash: str) -> SessionUser | None:
    """The session with this token hash, expired or not (the caller decides)."""
    row = await _LOOKUP.first(db, token_hash=token_hash)
    return SessionUser(**row) if row else None


async def touch_session(*, conn: AsyncConnection, session_id: uuid.UUID, now: datetime, expires_at: datetime) -> None:
    await conn.execute(update(Session).where(Session.id == session_id).values(last_seen_at=now, expires_at=expires_at))


async def delete_session_by_id(*, conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(delete(Session).where(Session.id == session_id))


async def create_session(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
    user_agent: str | None,
    ip: str | None,
) -> Session:
    row = Session(
        user_id=user_id,
        token_hash=token_hash,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        user_agent=user_agent[:512] if user_agent else None,
        ip=ip[:45] if ip else None,
    )
    session.add(row)
    await session.flush()
    return row


async def delete_session_by_token_hash(*, session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(Session).where(Session.token_hash == token_hash))


async def list_user_sessions(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> list[Session]:
    stmt = (
        select(Session)
        .where(Session.user_id == user_id, Session.expires_at > now)
        .order_by(Session.last_seen_at.desc(), Session.id)
    )
    return list((await session.scalars(stmt)).all())


async def delete_user_session(*, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Delete one of the user's own sessions; False if it is not theirs (or gone)."""
    return (
        await rows_changed(
            session=session, statement=delete(Session).where(Session.id == session_id, Session.user_id == user_id)
        )
        == 1
    )


async def delete_user_sessions(*, session: AsyncSession, user_id: uuid.UUID, except_id: uuid.UUID | None = None) -> int:
    stmt = delete(Session).where(Session.user_id == user_id)
    if except_id is not None:
        stmt = stmt.where(Session.id != except_id)
    return await rows_changed(session=session, statement=stmt)


async def lock_user_sessions(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold the user's row until the transaction ends: session starts for one user go one at a
    time (PostgreSQL; SQLite's writers already do)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def delete_sessions_past(
    *, session: AsyncSession, user_id: uuid.UUID, except_id: uuid.UUID, keep: int, now: datetime
) -> list[uuid.UUID]:
    """Delete the user's live sessions other than `except_id` past the `keep` most recently used;
    their ids, least recently used last."""
    stmt = (
        select(Session.id)
        .where(Session.user_id == user_id, Session.id != except_id, Session.expires_at > now)
        .order_by(Session.last_seen_at.desc(), Session.created_at.desc(), Session.id)
        .offset(keep)
    )
    ids = list((await session.scalars(stmt)).all())
    if ids:
        await session.execute(delete(Session).where(Session.id.in_(ids)))
    return ids


async def delete_expired_batch(*, session: AsyncSession, now: datetime, batch_size: int) -> int:
    """Delete up to `batch_size` expired sessions (found through the expires_at index)."""
    ids = select(Session.id).where(Session.expires_at <= now).limit(batch_size).scalar_subquery()
    return await rows_changed(session=session, statement=delete(Session).where(Session.id.in_(ids)))
