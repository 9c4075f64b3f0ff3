from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from app.api.bodies import json_or_form_openapi, parse_json_or_form
from app.api.deps import (
    ClientDep,
    NowDep,
    OptionalUser,
    PasswordsDep,
    SessionDep,
    SessionTokenDep,
    SettingsDep,
)
from app.core.config import Settings
from app.core.security import clear_session_cookie_header, session_cookie_header
from app.schemas.common import error_responses
from app.schemas.user import AuthState, LoginIn, UserCreate, UserRead
from app.services import auth as auth_service
from app.services.auth import SignedIn

router = APIRouter(prefix="/auth", tags=["auth"])


def _signed_in_response(signed_in: SignedIn, settings: Settings, status_code: int) -> JSONResponse:
    body = AuthState(authenticated=True, user=UserRead.model_validate(signed_in.user))
    response = JSONResponse(body.model_dump(mode="json"), status_code=status_code)
    response.headers["set-cookie"] = session_cookie_header(
        signed_in.token, max_age=settings.session_ttl_seconds, secure=settings.secure_cookies
    )
    return response


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthState,
    responses=error_responses(403, 409, 413, 415, 422),
    openapi_extra=json_or_form_openapi(UserCreate),
)
async def signup(
    request: Request,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    client: ClientDep,
    token: SessionTokenDep,
    now: NowDep,
) -> JSONResponse:
    """Create an account and sign in (sets the `session_id` cookie)."""
    user_in = await parse_json_or_form(request, UserCreate)
    signed_in = await auth_service.signup(
        session=session,
        passwords=passwords,
        user_in=user_in,
        previous_token=token,
        client=client,
        now=now,
        ttl=timedelta(seconds=settings.session_ttl_seconds),
    )
    return _signed_in_response(signed_in, settings, status.HTTP_201_CREATED)


@router.post(
    "/login",
    response_model=AuthState,
    responses=error_responses(401, 403, 413, 415, 422),
    openapi_extra=json_or_form_openapi(LoginIn),
)
async def login(
    request: Request,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    client: ClientDep,
    token: SessionTokenDep,
    now: NowDep,
) -> JSONResponse:
    """Sign in with `email` (or a form's `username`) and `password`; a fresh session every time."""
    credentials = await parse_json_or_form(request, LoginIn, username_is_email=True)
    signed_in = await auth_service.login(
        session=session,
        passwords=passwords,
        credentials=credentials,
        previous_token=token,
        client=client,
        now=now,
        ttl=timedelta(seconds=settings.session_ttl_seconds),
    )
    return _signed_in_response(signed_in, settings, status.HTTP_200_OK)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403))
async def logout(session: SessionDep, settings: SettingsDep, token: SessionTokenDep) -> Response:
    """End this session and clear the cookie (204 even without a session)."""
    await auth_service.logout(session=session, token=token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.headers["set-cookie"] = clear_session_cookie_header(secure=settings.secure_cookies)
    return response


@router.get("/me", response_model=AuthState)
async def me(user: OptionalUser) -> AuthState:
    """Who is signed in: always 200."""
    if user is None:
        return AuthState(authenticated=False, user=None)
    return AuthState(authenticated=True, user=UserRead.model_validate(user))
