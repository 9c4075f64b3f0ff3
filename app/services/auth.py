"""Sign-up, login, logout and password change: users, hashes, sessions and throttling together."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unauthorized
from app.core.security import Passwords, token_digest
from app.crud import session as session_crud
from app.crud import user as user_crud
from app.models import User
from app.schemas.user import LoginIn, PasswordChange, UserCreate
from app.services.sessions import ClientInfo, NewSession, SessionPolicy, start_session
from app.services.throttle import AuthThrottle

log = logging.getLogger(__name__)
_INVALID = "Invalid email or password"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What every auth use case needs besides its own input."""

    session: AsyncSession
    passwords: Passwords
    throttle: AuthThrottle
    policy: SessionPolicy
    client: ClientInfo
    now: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    new_session: NewSession


async def signup(ctx: AuthContext, *, user_in: UserCreate, previous_token: str | None) -> SignedIn:
    await ctx.throttle.check_signup(ip=ctx.client.ip)
    password_hash = await ctx.passwords.hash(user_in.password)
    user = await user_crud.create_user(
        session=ctx.session, email=user_in.email, password_hash=password_hash, full_name=user_in.full_name
    )
    log.info("auth.signup user_id=%s", user.id)
    new = await start_session(
        session=ctx.session,
        user_id=user.id,
        previous_token=previous_token,
        client=ctx.client,
        now=ctx.now,
        policy=ctx.policy,
    )
    return SignedIn(user=user, new_session=new)


async def login(ctx: AuthContext, *, credentials: LoginIn, previous_token: str | None) -> SignedIn:
    await ctx.throttle.check_login(email=credentials.email, ip=ctx.client.ip)
    user = await user_crud.get_user_by_email(session=ctx.session, email=credentials.email)
    # An unknown email is checked against a dummy hash: both paths cost one verification.
    if not await ctx.passwords.verify(user.password_hash if user else None, credentials.password) or user is None:
        await ctx.throttle.login_failed(email=credentials.email, ip=ctx.client.ip)
        log.info("auth.login_failed ip=%s", ctx.client.ip)
        raise Unauthorized(_INVALID, code="invalid_credentials")
    await ctx.throttle.login_succeeded(email=credentials.email)
    if ctx.passwords.needs_rehash(user.password_hash):
        # Parameters were raised since this hash was made: store one at today's cost.
        user.password_hash = await ctx.passwords.hash(credentials.password)
        log.info("auth.password_rehashed user_id=%s", user.id)
    log.info("auth.login user_id=%s", user.id)
    new = await start_session(
        session=ctx.session,
        user_id=user.id,
        previous_token=previous_token,
        client=ctx.client,
        now=ctx.now,
        policy=ctx.policy,
    )
    return SignedIn(user=user, new_session=new)


async def logout(*, session: AsyncSession, token: str | None) -> None:
    if token and (token_hash := token_digest(token)):
        await session_crud.delete_session_by_token_hash(session=session, token_hash=token_hash)
        log.info("auth.logout")


async def change_password(
    ctx: AuthContext, *, user_id: uuid.UUID, change: PasswordChange, current_token: str | None
) -> NewSession:
    """Check the current password (throttled like login), store the new one, end every other
    session, and give this browser a fresh token."""
    user = await user_crud.get_user(session=ctx.session, user_id=user_id)
    if user is None:
        raise Unauthorized("Sign in to continue")
    await ctx.throttle.check_login(email=user.email, ip=ctx.client.ip)
    if not await ctx.passwords.verify(user.password_hash, change.current_password):
        await ctx.throttle.login_failed(email=user.email, ip=ctx.client.ip)
        log.info("auth.password_change_failed user_id=%s", user.id)
        raise Unauthorized("The current password is wrong", code="invalid_credentials")
    await ctx.throttle.login_succeeded(email=user.email)
    user.password_hash = await ctx.passwords.hash(change.new_password)
    await session_crud.delete_user_sessions(session=ctx.session, user_id=user.id)
    log.info("auth.password_changed user_id=%s", user.id)
    return await start_session(
        session=ctx.session,
        user_id=user.id,
        previous_token=current_token,
        client=ctx.client,
        now=ctx.now,
        policy=ctx.policy,
    )
