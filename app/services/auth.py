"""Sign-up, login and logout: users, password hashes and sessions together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unauthorized
from app.core.security import Passwords, new_session_token, token_digest
from app.crud import session as session_crud
from app.crud import user as user_crud
from app.models import User
from app.schemas.user import LoginIn, UserCreate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str


async def _start_session(
    *,
    session: AsyncSession,
    user: User,
    previous_token: str | None,
    client: ClientInfo,
    now: datetime,
    ttl: timedelta,
) -> SignedIn:
    """A fresh token every time; the session the client came with (if any) ends."""
    if previous_token and (old_hash := token_digest(previous_token)):
        await session_crud.delete_session_by_token_hash(session=session, token_hash=old_hash)
    token = new_session_token()
    await session_crud.create_session(
        session=session,
        user_id=user.id,
        token_hash=token_digest(token) or "",
        now=now,
        expires_at=now + ttl,
        user_agent=client.user_agent,
        ip=client.ip,
    )
    return SignedIn(user=user, token=token)


async def signup(
    *,
    session: AsyncSession,
    passwords: Passwords,
    user_in: UserCreate,
    previous_token: str | None,
    client: ClientInfo,
    now: datetime,
    ttl: timedelta,
) -> SignedIn:
    password_hash = await passwords.hash(user_in.password)
    user = await user_crud.create_user(
        session=session, email=user_in.email, password_hash=password_hash, full_name=user_in.full_name
    )
    log.info("auth.signup user_id=%s", user.id)
    return await _start_session(
        session=session, user=user, previous_token=previous_token, client=client, now=now, ttl=ttl
    )


async def login(
    *,
    session: AsyncSession,
    passwords: Passwords,
    credentials: LoginIn,
    previous_token: str | None,
    client: ClientInfo,
    now: datetime,
    ttl: timedelta,
) -> SignedIn:
    user = await user_crud.get_user_by_email(session=session, email=credentials.email)
    # An unknown email is checked against a dummy hash: both paths cost one verification.
    if not await passwords.verify(user.password_hash if user else None, credentials.password) or user is None:
        log.info("auth.login_failed ip=%s", client.ip)
        raise Unauthorized("Invalid email or password", code="invalid_credentials")
    log.info("auth.login user_id=%s", user.id)
    return await _start_session(
        session=session, user=user, previous_token=previous_token, client=client, now=now, ttl=ttl
    )


async def logout(*, session: AsyncSession, token: str | None) -> None:
    if token and (token_hash := token_digest(token)):
        await session_crud.delete_session_by_token_hash(session=session, token_hash=token_hash)
