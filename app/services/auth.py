"""Sign-up, login, logout and password change: users, hashes, sessions and throttling together."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid, TooManyRequests, Unauthorized
from app.core.security import Passwords, token_digest
from app.core.signing import DeviceCookies
from app.crud import session as session_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.models import User
from app.schemas.password_rules import password_refusal
from app.schemas.user import LoginIn, PasswordChange, UserCreate
from app.services import audit
from app.services.audit import Actor
from app.services.sessions import ClientInfo, NewSession, SessionPolicy, start_session
from app.services.throttle import AuthThrottle

log = logging.getLogger(__name__)
T = TypeVar("T")
_INVALID = "Invalid email or password"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What every auth use case needs besides its own input."""

    session: AsyncSession
    db: Database
    passwords: Passwords
    throttle: AuthThrottle
    devices: DeviceCookies
    policy: SessionPolicy
    client: ClientInfo
    now: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    new_session: NewSession
    # This browser's new device cookie: it signed in as `user`, so its logins to this account
    # are no longer held by the account's delay for untrusted browsers.
    device_cookie: str


async def _throttled(ctx: AuthContext, check: Awaitable[T], kind: str, email: str | None = None) -> T:
    try:
        return await check
    except TooManyRequests:
        sample = {"email": email} if email else None
        audit.record_refusal(ctx.session, ctx.db, "auth.throttled", actor=None, details={"kind": kind}, sample=sample)
        raise


def _actor(user: User) -> Actor:
    return Actor(id=user.id, email=user.email)


async def _signed_in(ctx: AuthContext, user: User, action: str, previous_token: str | None) -> SignedIn:
    await audit.record(ctx.session, action, actor=_actor(user), target=("user", user.id))
    new = await start_session(
        session=ctx.session,
        actor=_actor(user),
        previous_token=previous_token,
        client=ctx.client,
        now=ctx.now,
        policy=ctx.policy,
    )
    return SignedIn(user=user, new_session=new, device_cookie=ctx.devices.issue(user.id))


async def signup(ctx: AuthContext, *, user_in: UserCreate, previous_token: str | None) -> SignedIn:
    await _throttled(ctx, ctx.throttle.check_signup(ip=ctx.client.ip), "signup")
    password_hash = await ctx.passwords.hash(user_in.password, anonymous=True)
    user = await user_crud.create_user(
        session=ctx.session, email=user_in.email, password_hash=password_hash, full_name=user_in.full_name
    )
    return await _signed_in(ctx, user, "auth.signup", previous_token)


async def login(
    ctx: AuthContext, *, credentials: LoginIn, previous_token: str | None, device_cookie: str | None
) -> SignedIn:
    # Read apart from the request's unit of work, which writes: on SQLite its first statement
    # takes the database's write lock, and no write anywhere should wait out a password check.
    async with ctx.db.unit_of_work(write=False) as read:
        user = await user_crud.get_user_by_email(session=read, email=credentials.email)
    device = ctx.devices.device_of(device_cookie, user.id if user else None)
    attempt = await _throttled(
        ctx,
        ctx.throttle.begin_login(email=credentials.email, ip=ctx.client.ip, device=device),
        "login",
        credentials.email,
    )
    # An unknown email is checked against a dummy hash: both paths cost one verification.
    password_hash = user.password_hash if user else None
    if not await ctx.passwords.verify(password_hash, credentials.password, anonymous=device is None) or user is None:
        await attempt.failed()
        audit.record_refusal(
            ctx.session,
            ctx.db,
            "auth.login_failed",
            actor=_actor(user) if user else None,
            sample={"email": credentials.email},
        )
        raise Unauthorized(_INVALID, code="invalid_credentials")
    await attempt.succeeded()
    if ctx.passwords.needs_rehash(user.password_hash):
        # Parameters were raised since this hash was made: store one at today's cost.
        new_hash = await ctx.passwords.hash(credentials.password, anonymous=False)
        await user_crud.set_password_hash(session=ctx.session, user_id=user.id, password_hash=new_hash)
        log.info("auth.password_rehashed user_id=%s", user.id)
    return await _signed_in(ctx, user, "auth.login", previous_token)


async def logout(*, session: AsyncSession, token: str | None, actor: Actor | None) -> None:
    if token and (token_hash := token_digest(token)):
        await session_crud.delete_session_by_token_hash(session=session, token_hash=token_hash)
        if actor is not None:
            await audit.record(session, "auth.logout", actor=actor, target=("user", actor.id))


def _refuse_password_of(user: User, password: str) -> None:
    """The rule the body's validation could not apply: the new password must not contain the
    account's email (refused as Invalid, shaped like the other password refusals)."""
    refusal = password_refusal(password, email=user.email)
    if refusal is not None:
        error = {"loc": ["body", "new_password"], "msg": refusal.message, "type": refusal.code}
        raise Invalid(f"new_password: {refusal.message}", errors=[error])


async def change_password(
    ctx: AuthContext, *, user_id: uuid.UUID, session_id: uuid.UUID, change: PasswordChange, current_token: str | None
) -> NewSession:
    """Check the current password (failures delayed like a login's, per session), store the new
    one, end every other session, and give this browser a fresh token."""
    user = await user_crud.get_user(session=ctx.session, user_id=user_id)
    if user is None:
        raise Unauthorized("Sign in to continue")
    _refuse_password_of(user, change.new_password)
    attempt = await _throttled(ctx, ctx.throttle.begin_password_change(session_id=str(session_id)), "password")
    if not await ctx.passwords.verify(user.password_hash, change.current_password, anonymous=False):
        await attempt.failed()
        audit.record_refusal(
            ctx.session, ctx.db, "auth.password_change_failed", actor=_actor(user), target=("user", user.id)
        )
        raise Unauthorized("The current password is wrong", code="invalid_credentials")
    await attempt.succeeded()
    user.password_hash = await ctx.passwords.hash(change.new_password, anonymous=False)
    await session_crud.delete_user_sessions(session=ctx.session, user_id=user.id)
    await audit.record(ctx.session, "auth.password_changed", actor=_actor(user), target=("user", user.id))
    return await start_session(
        session=ctx.session,
        actor=_actor(user),
        previous_token=current_token,
        client=ctx.client,
        now=ctx.now,
        policy=ctx.policy,
    )
