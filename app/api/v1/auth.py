from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from app.api.bodies import json_or_form_openapi, parse_json_or_form
from app.api.deps import (
    ClientDep,
    CurrentUser,
    DatabaseDep,
    DeviceCookiesDep,
    JsonBody,
    NowDep,
    OptionalUser,
    PasswordsDep,
    PolicyDep,
    SessionDep,
    SessionTokenDep,
    SettingsDep,
    ThrottleDep,
    actor_of,
    get_optional_user,
)
from app.api.direct_routes import DirectRoute
from app.api.responses import model_response
from app.core.config import Settings
from app.core.errors import NotFound
from app.core.security import clear_session_cookie_header, session_cookie_header
from app.core.signing import DEVICE_COOKIE, device_cookie_header
from app.schemas.common import error_responses
from app.schemas.user import AuthState, LoginIn, PasswordChange, SessionRead, UserCreate, UserRead
from app.services import auth as auth_service
from app.services import sessions as session_service
from app.services.auth import AuthContext
from app.services.sessions import NewSession

router = APIRouter(prefix="/auth", tags=["auth"])


async def auth_context(
    session: SessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    devices: DeviceCookiesDep,
    policy: PolicyDep,
    client: ClientDep,
    now: NowDep,
) -> AuthContext:
    return AuthContext(
        session=session,
        db=db,
        passwords=passwords,
        throttle=throttle,
        devices=devices,
        policy=policy,
        client=client,
        now=now,
    )


AuthContextDep = Annotated[AuthContext, Depends(auth_context)]


def _set_session_cookie(response: Response, new: NewSession, ctx: AuthContext, settings: Settings) -> None:
    max_age = int((new.expires_at - ctx.now).total_seconds())
    response.headers["set-cookie"] = session_cookie_header(new.token, max_age=max_age, secure=settings.secure_cookies)


def _clear_session_cookie(response: Response, settings: Settings) -> None:
    response.headers["set-cookie"] = clear_session_cookie_header(secure=settings.secure_cookies)


def _signed_in(
    signed_in: auth_service.SignedIn, ctx: AuthContext, settings: Settings, status_code: int
) -> JSONResponse:
    body = AuthState(authenticated=True, user=UserRead.model_validate(signed_in.user))
    response = JSONResponse(body.model_dump(mode="json"), status_code=status_code)
    _set_session_cookie(response, signed_in.new_session, ctx, settings)
    response.headers.append("set-cookie", device_cookie_header(signed_in.device_cookie, secure=settings.secure_cookies))
    return response


@router.get("/me", response_model=AuthState)
async def me(user: OptionalUser) -> Response:
    """Who is signed in: always 200."""
    if user is None:
        return model_response(AuthState(authenticated=False, user=None))
    return model_response(AuthState(authenticated=True, user=UserRead.model_validate(user)))


async def _direct_me(request: Request, _params: Mapping[str, str]) -> Response:
    return await me(await get_optional_user(request))


DIRECT = (DirectRoute(me, _direct_me, reproduces=(("depends", "get_optional_user(Request)"),)),)


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthState,
    responses=error_responses(400, 403, 409, 413, 415, 422, 429),
    openapi_extra=json_or_form_openapi(UserCreate),
)
async def signup(request: Request, ctx: AuthContextDep, settings: SettingsDep, token: SessionTokenDep) -> JSONResponse:
    """Create an account and sign in (sets the session cookie, `__Host-session_id` when Secure,
    else `session_id`, and this browser's `device` cookie)."""
    user_in = await parse_json_or_form(request, UserCreate)
    signed_in = await auth_service.signup(ctx, user_in=user_in, previous_token=token)
    return _signed_in(signed_in, ctx, settings, status.HTTP_201_CREATED)


@router.post(
    "/login",
    response_model=AuthState,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429),
    openapi_extra=json_or_form_openapi(LoginIn),
)
async def login(request: Request, ctx: AuthContextDep, settings: SettingsDep, token: SessionTokenDep) -> JSONResponse:
    """Sign in with `email` (or a form's `username`) and `password`; a fresh session every time.

    A `device` cookie from an earlier sign-in to this account lets this browser in while the
    account is throttled for other browsers; a new one comes with every success."""
    credentials = await parse_json_or_form(request, LoginIn, username_is_email=True)
    signed_in = await auth_service.login(
        ctx, credentials=credentials, previous_token=token, device_cookie=request.cookies.get(DEVICE_COOKIE)
    )
    return _signed_in(signed_in, ctx, settings, status.HTTP_200_OK)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403))
async def logout(session: SessionDep, settings: SettingsDep, token: SessionTokenDep, user: OptionalUser) -> Response:
    """End this session and clear the cookie (204 even without a session)."""
    await auth_service.logout(session=session, token=token, actor=actor_of(user) if user else None)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_session_cookie(response, settings)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403))
async def logout_all(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    """End every session of yours, this one included."""
    await session_service.end_all_sessions(session=session, actor=actor_of(user))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_session_cookie(response, settings)
    return response


@router.get("/sessions", responses=error_responses(401))
async def list_sessions(user: CurrentUser, session: SessionDep, now: NowDep) -> list[SessionRead]:
    """Your signed-in browsers, most recently used first; `current` marks this one."""
    rows = await session_service.list_sessions(session=session, user_id=user.id, now=now)
    return [SessionRead.model_validate(row).model_copy(update={"current": row.id == user.session_id}) for row in rows]


@router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404, 422)
)
async def revoke_session(session_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    """End one of your sessions (another user's id is 404)."""
    try:
        target = uuid.UUID(session_id)
    except ValueError:
        raise NotFound("Session not found") from None
    await session_service.revoke_session(session=session, actor=actor_of(user), session_id=target)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if target == user.session_id:
        _clear_session_cookie(response, settings)
    return response


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429),
    dependencies=[JsonBody],
)
async def change_password(
    change: PasswordChange, user: CurrentUser, ctx: AuthContextDep, settings: SettingsDep, token: SessionTokenDep
) -> Response:
    """Change your password: every other session ends and this browser gets a fresh cookie."""
    new = await auth_service.change_password(
        ctx, user_id=user.id, session_id=user.session_id, change=change, current_token=token
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _set_session_cookie(response, new, ctx, settings)
    return response
