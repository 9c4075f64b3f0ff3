"""Session lifecycle: rolling idle timeout under an absolute cap, a cap on sessions per user,
management, pruning.

expires_at = min(last_seen_at + idle timeout, created_at + max age). Use extends it, but the
database is written at most once per touch interval, so a burst of reads costs no writes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import NotFound
from app.core.security import new_session_token, token_digest
from app.crud import periodic as periodic_crud
from app.crud import session as session_crud
from app.crud.session import SessionUser
from app.db.session import Database
from app.models import Session
from app.services import audit
from app.services.audit import Actor

log = logging.getLogger(__name__)
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta
    max_age: timedelta
    touch_interval: timedelta
    max_per_user: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle_timeout=settings.session_idle_timeout,
            max_age=settings.session_max_age,
            touch_interval=settings.session_touch_interval,
            max_per_user=settings.max_sessions_per_user,
        )

    def expiry(self, *, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(last_seen_at + self.idle_timeout, created_at + self.max_age)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRef:
    """The session a request names, as a statement that checks it along with its own work looks
    it up (app.crud.session.caller_lookup): the services past this one never see the cookie."""

    token_hash: str


def session_ref(token: str | None) -> SessionRef | None:
    """The session the cookie's token names; None without a usable token."""
    token_hash = token_digest(token) if token else None
    return SessionRef(token_hash) if token_hash else None


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the cookie means: a user (maybe with a renewed expiry), or anonymous (maybe expired)."""

    user: SessionUser | None
    renewed_until: datetime | None = None
    expired: bool = False


async def start_session(
    *,
    session: AsyncSession,
    actor: Actor,
    previous_token: str | None,
    client: ClientInfo,
    now: datetime,
    policy: SessionPolicy,
) -> NewSession:
    """A fresh token every time; the session the client came with (if any) ends, and so do the
    least recently used past the policy's number per user."""
    # Taken before counting: two sign-ins at once must not both keep the one to end.
    await session_crud.lock_user_sessions(session=session, user_id=actor.id)
    if previous_token and (old_hash := token_digest(previous_token)):
        await session_crud.delete_session_by_token_hash(session=session, token_hash=old_hash)
    token = new_session_token()
    expires_at = policy.expiry(created_at=now, last_seen_at=now)
    row = await session_crud.create_session(
        session=session,
        user_id=actor.id,
        token_hash=token_digest(token) or "",
        now=now,
        expires_at=expires_at,
        user_agent=client.user_agent,
        ip=client.ip,
    )
    await _end_sessions_past_limit(session=session, actor=actor, keep=row.id, now=now, limit=policy.max_per_user)
    return NewSession(token=token, expires_at=expires_at)


async def _end_sessions_past_limit(
    *, session: AsyncSession, actor: Actor, keep: uuid.UUID, now: datetime, limit: int
) -> None:
    """Beside `keep` (the new session), the `limit - 1` most recently used live sessions stay."""
    ended = await session_crud.delete_sessions_past(
        session=session, user_id=actor.id, except_id=keep, keep=limit - 1, now=now
    )
    for session_id in ended:
        await audit.record(
            session,
            "auth.session_evicted",
            actor=actor,
            target=("user", actor.id),
            details={"session_id": str(session_id), "limit": limit},
        )


async def resolve_session(*, db: Database, token: str | None, now: datetime, policy: SessionPolicy) -> Resolved:
    """The cookie's session: one indexed read; a write only to renew (once per interval) or expire."""
    return await check_session(db=db, session=session_ref(token), now=now, policy=policy)


async def check_session(*, db: Database, session: SessionRef | None, now: datetime, policy: SessionPolicy) -> Resolved:
    """`resolve_session` of a session already named (`session_ref`)."""
    if session is None:
        return Resolved(user=None)
    user = await session_crud.get_session_user(db=db, token_hash=session.token_hash)
    return await settle_session(db=db, user=user, now=now, policy=policy)


async def settle_session(*, db: Database, user: SessionUser | None, now: datetime, policy: SessionPolicy) -> Resolved:
    """What a looked-up session means now: expired (deleted, with its event), due a touch (once
    per interval), or simply valid. `user`: the lookup's answer, None for an unknown token."""
    if user is None:
        return Resolved(user=None)
    if not session_crud.is_live(user.expires_at, now):
        async with db.write_engine.begin() as conn:
            await session_crud.delete_session_by_id(conn=conn, session_id=user.session_id)
        await audit.record_alone(
            db,
            "auth.session_expired",
            actor=Actor(id=user.id, email=user.email),
            target=("user", user.id),
            details={"session_id": str(user.session_id)},
        )
        return Resolved(user=None, expired=True)
    if now - user.last_seen_at < policy.touch_interval:
        return Resolved(user=user)
    expires_at = policy.expiry(created_at=user.session_created_at, last_seen_at=now)
    async with db.write_engine.begin() as conn:
        await session_crud.touch_session(conn=conn, session_id=user.session_id, now=now, expires_at=expires_at)
    return Resolved(user=user, renewed_until=expires_at)


async def list_sessions(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> list[Session]:
    return await session_crud.list_user_sessions(session=session, user_id=user_id, now=now)


async def revoke_session(*, session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> None:
    if not await session_crud.delete_user_session(session=session, user_id=actor.id, session_id=session_id):
        raise NotFound("Session not found")
    await audit.record(
        session, "auth.session_revoked", actor=actor, target=("user", actor.id), details={"session_id": str(session_id)}
    )


async def end_all_sessions(*, session: AsyncSession, actor: Actor) -> int:
    count = await session_crud.delete_user_sessions(session=session, user_id=actor.id)
    await audit.record(session, "auth.logout_all", actor=actor, target=("user", actor.id), details={"sessions": count})
    return count


async def prune_expired_sessions(*, db: Database, now: datetime, batch_size: int = PRUNE_BATCH) -> int:
    """Delete expired sessions in batches (short transactions); running it twice is harmless."""
    total = 0
    while True:
        async with db.unit_of_work() as session:
            deleted = await session_crud.delete_expired_batch(session=session, now=now, batch_size=batch_size)
        total += deleted
        if deleted < batch_size:
            log.info("sessions.pruned count=%d", total)
            return total


async def prune_once_per_day(*, db: Database, now: datetime) -> int | None:
    """The daily periodic prune: None if another consumer already ran today's."""
    async with db.unit_of_work() as session:
        day = int(now.timestamp()) // 86_400
        if not await periodic_crud.claim_periodic_slot(session=session, name="sessions.prune", slot=day, now=now):
            return None
    return await prune_expired_sessions(db=db, now=now)
