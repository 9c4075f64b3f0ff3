"""Sessions: data access only. The lookup is plain Core: it runs on every request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import Session, User


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The signed-in user as seen by the session check."""

    session_id: uuid.UUID
    last_seen_at: datetime
    id: uuid.UUID
    email: str
    full_name: str | None
    created_at: datetime


async def get_session_user(*, conn: AsyncConnection, token_hash: str, now: datetime) -> SessionUser | None:
    stmt = (
        select(
            Session.id.label("session_id"),
            Session.last_seen_at,
            User.id,
            User.email,
            User.full_name,
            User.created_at,
        )
        .join(User, User.id == Session.user_id)
        .where(Session.token_hash == token_hash, Session.expires_at > now)
    )
    row = (await conn.execute(stmt)).first()
    return SessionUser(**row._mapping) if row else None


async def touch_session(*, conn: AsyncConnection, session_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(update(Session).where(Session.id == session_id).values(last_seen_at=now))


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
