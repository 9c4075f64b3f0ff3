"""The session cookie: who the caller is, and the cookie's renewal or clearing on the way out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.api.middleware import SET_COOKIE_KEY
from app.core.errors import Unauthorized
from app.core.security import clear_session_cookie_header, session_cookie_header, session_cookie_name
from app.crud.session import SessionUser
from app.db.session import Database
from app.services.audit import Actor
from app.services.sessions import Resolved, resolve_session


def session_token_of(request: Request) -> str | None:
    """The session cookie's value, under the name these settings give it (app.core.security)."""
    return request.cookies.get(session_cookie_name(secure=request.app.state.settings.secure_cookies))


async def get_session_token(request: Request) -> str | None:
    return session_token_of(request)


SessionTokenDep = Annotated[str | None, Depends(get_session_token)]


def actor_of(user: SessionUser) -> Actor:
    return Actor(id=user.id, email=user.email)


async def get_optional_user(request: Request) -> SessionUser | None:
    """The cookie's user, or None for a missing, malformed, unknown or expired token.

    Runs on every signed-in request, so it asks FastAPI for nothing but the request (each
    dependency costs a resolution step) and reads on its own connection, not the request's
    transaction. A renewed or expired session also renews or clears the cookie, on whatever
    response this request gets.
    """
    state = request.app.state
    token, now = session_token_of(request), state.clock()
    resolved = await resolve_session(db=state.db, token=token, now=now, policy=state.session_policy)
    return answer_session_cookie(request, token, now, resolved)


def answer_session_cookie(request: Request, token: str | None, now: datetime, resolved: Resolved) -> SessionUser | None:
    """A renewed session renews the cookie, an expired one clears it (on whatever response this
    request gets); the user, if any."""
    secure = request.app.state.settings.secure_cookies
    if resolved.renewed_until is not None and token:
        max_age = int((resolved.renewed_until - now).total_seconds())
        request.scope[SET_COOKIE_KEY] = session_cookie_header(token, max_age=max_age, secure=secure)
    elif resolved.expired:
        request.scope[SET_COOKIE_KEY] = clear_session_cookie_header(secure=secure)
    return resolved.user


OptionalUser = Annotated[SessionUser | None, Depends(get_optional_user)]


async def get_current_user(request: Request) -> SessionUser:
    # Calls get_optional_user itself rather than depending on it: one resolution step, not two.
    user = await get_optional_user(request)
    if user is None:
        raise Unauthorized("Sign in to continue")
    return user


CurrentUser = Annotated[SessionUser, Depends(get_current_user)]


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in caller, the database and the request's time: what the busiest handlers need,
    as one dependency. FastAPI resolves each dependency in a step of its own (docs/benchmarks.md
    measures what each costs), so the hot document routes take this one instead of CurrentUser +
    DatabaseDep + NowDep."""

    user: SessionUser
    actor: Actor
    db: Database
    now: datetime


async def get_caller(request: Request) -> Caller:
    user = await get_current_user(request)
    state = request.app.state
    return Caller(user=user, actor=actor_of(user), db=state.db, now=state.clock())


CallerDep = Annotated[Caller, Depends(get_caller)]
