"""Sign-up, login, logout and /me: bodies, status codes, cookies and session rows."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.core.security import SECURE_SESSION_COOKIE, SESSION_COOKIE
from app.models import Session, User
from app.models.base import utcnow
from tests.conftest import PASSWORD, ClientFactory, SignUp, set_cookie, unique_email

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


def cookie_attributes(response: httpx.Response) -> dict[str, str]:
    header = set_cookie(response)
    assert header is not None
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    attrs = {"name": name, "value": value}
    for part in rest:
        key, _, val = part.partition("=")
        attrs[key.lower()] = val
    return attrs


async def count(app, model) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(model))


# --- signup ---------------------------------------------------------------------------------


async def test_signup_with_json_returns_user_and_sets_session_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": "Sita@Example.com", "password": PASSWORD, "full_name": "सीता"})

    assert response.status_code == 201
    body = response.json()
    assert body["authenticated"] is True
    assert body["user"]["email"] == "Sita@Example.com"  # as typed; matched in any case
    assert body["user"]["full_name"] == "सीता"
    assert set(body["user"]) == {"id", "email", "full_name", "created_at"}
    cookie = cookie_attributes(response)
    assert cookie["name"] == SESSION_COOKIE and len(cookie["value"]) == 43


async def test_signup_accepts_a_urlencoded_form_with_raw_utf8(client: httpx.AsyncClient) -> None:
    body = f"email={unique_email()}&password={PASSWORD}&full_name=राम बहादुर".encode()
    response = await client.post(SIGNUP, content=body, headers={"content-type": "application/x-www-form-urlencoded"})

    assert response.status_code == 201, response.text
    assert response.json()["user"]["full_name"] == "राम बहादुर"


async def test_signup_accepts_a_percent_encoded_form(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, data={"email": unique_email(), "password": PASSWORD, "full_name": "गीता"})

    assert response.status_code == 201
    assert response.json()["user"]["full_name"] == "गीता"


async def test_session_cookie_attributes(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": unique_email(), "password": PASSWORD})

    header = set_cookie(response) or ""
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert f"Max-Age={7 * 24 * 3600}" in header
    assert "Domain" not in header
    assert "Secure" not in header  # ENV=test; Secure is the prod default
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]


async def test_session_cookie_is_secure_in_prod(database_url, tmp_path) -> None:
    from asgi_lifespan import LifespanManager

    from main import create_app
    from tests.conftest import _empty_tables, make_settings

    app = create_app(make_settings(database_url, tmp_path, env="prod", auto_migrate=False))
    async with LifespanManager(app):
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
                response = await c.post(SIGNUP, json={"email": unique_email(), "password": PASSWORD})
        finally:
            await _empty_tables(app)
    assert response.status_code == 201
    assert "Secure" in (set_cookie(response, SECURE_SESSION_COOKIE) or "").split("; ")


async def test_session_table_stores_only_the_token_hash(app, client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": unique_email(), "password": PASSWORD})
    token = cookie_attributes(response)["value"]

    async with app.state.db.engine.connect() as conn:
        stored = (await conn.execute(select(Session.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in stored


async def test_password_hash_is_argon2id_and_never_returned(app, client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": unique_email(), "password": PASSWORD})

    async with app.state.db.engine.connect() as conn:
        password_hash = await conn.scalar(select(User.password_hash))
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "argon2" not in response.text and PASSWORD not in response.text


@pytest.mark.parametrize(
    "variant",
    ["taken@example.com", "TAKEN@EXAMPLE.COM", "  Taken@Example.com "],
    ids=["same", "upper", "padded"],
)
async def test_signup_with_a_taken_email_in_any_case_is_409(app, new_client: ClientFactory, variant: str) -> None:
    first = await new_client().post(SIGNUP, json={"email": "taken@example.com", "password": PASSWORD})
    assert first.status_code == 201

    response = await new_client().post(SIGNUP, json={"email": variant, "password": PASSWORD})

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert await count(app, User) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b", "password": PASSWORD}, "email"),
        ({"email": "", "password": PASSWORD}, "email"),
        ({"email": "x\x00@example.com", "password": PASSWORD}, "email"),
        ({"email": "ok@example.com", "password": "short77"}, "password"),
        ({"email": "ok@example.com", "password": "x" * 129}, "password"),
        ({"email": "ok@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "ok@example.com", "password": 12345678}, "password"),
        ({"email": "ok@example.com", "password": PASSWORD, "full_name": "x" * 256}, "full_name"),
        ({"email": "ok@example.com", "password": PASSWORD, "id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({"email": "ok@example.com", "password": PASSWORD, "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ],
    ids=[
        "no-at",
        "no-domain-dot",
        "empty-email",
        "nul-email",
        "password-7",
        "password-129",
        "no-password",
        "no-email",
        "password-int",
        "long-name",
        "extra-id",
        "extra-created-at",
    ],
)
async def test_signup_bad_input_is_422_with_a_readable_detail(
    app, client: httpx.AsyncClient, payload: dict, field: str
) -> None:
    response = await client.post(SIGNUP, json=payload)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert isinstance(body["detail"], str) and field in body["detail"]
    assert any(error["loc"][-1] == field for error in body["errors"])
    assert "set-cookie" not in response.headers
    assert await count(app, User) == 0


async def test_validation_errors_do_not_echo_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": "bad", "password": "hunter2"})

    assert response.status_code == 422
    assert "hunter2" not in response.text


@pytest.mark.parametrize("password", ["zq8#Lp2!", "x" * 127 + "y", "पासवर्ड१२३४", "  spaced  ", "emoji🙂🙂🙂🙂"])
async def test_passwords_are_taken_exactly_as_given(new_client: ClientFactory, password: str) -> None:
    email = unique_email()
    assert (await new_client().post(SIGNUP, json={"email": email, "password": password})).status_code == 201

    exact = await new_client().post(LOGIN, json={"email": email, "password": password})
    trimmed = await new_client().post(LOGIN, json={"email": email, "password": password.strip() + "!"})

    assert exact.status_code == 200
    assert trimmed.status_code == 401


async def test_signup_with_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, content=b'{"email": ', headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42"])
async def test_signup_with_a_json_body_that_is_not_an_object_is_422(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(SIGNUP, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422


async def test_signup_with_an_unsupported_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, content=b"email=a", headers={"content-type": "text/plain"})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


# --- login ----------------------------------------------------------------------------------


async def test_login_with_the_frontends_username_form(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)
    browser = new_client()

    response = await browser.post(
        LOGIN,
        content=f"username={email.upper()}&password={PASSWORD.replace(' ', '+')}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "origin": "http://localhost:3000"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["authenticated"] is True
    assert response.json()["user"]["email"] == email
    assert cookie_attributes(response)["name"] == SESSION_COOKIE
    me = await browser.get(ME)
    assert me.json()["user"]["email"] == email


async def test_login_with_json_email(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)

    response = await new_client().post(LOGIN, json={"email": f"  {email.upper()}", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["user"]["email"] == email


async def test_login_ignores_oauth2_form_extras(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)

    response = await new_client().post(
        LOGIN, data={"username": email, "password": PASSWORD, "grant_type": "password", "scope": ""}
    )

    assert response.status_code == 200


async def test_wrong_password_and_unknown_email_get_identical_401s(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)

    wrong_password = await new_client().post(LOGIN, json={"email": email, "password": "wrong password"})
    unknown_email = await new_client().post(LOGIN, json={"email": unique_email(), "password": "wrong password"})

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.content == unknown_email.content
    assert wrong_password.json()["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong_password.headers and "set-cookie" not in unknown_email.headers


async def test_unknown_email_still_costs_one_password_verification(app, client: httpx.AsyncClient) -> None:
    calls: list[str | None] = []
    passwords = app.state.passwords
    original = passwords._verify

    def counting_verify(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return original(password_hash, password)

    passwords._verify = counting_verify
    try:
        response = await client.post(LOGIN, json={"email": unique_email(), "password": "whatever123"})
    finally:
        passwords._verify = original

    assert response.status_code == 401
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


async def test_login_issues_a_fresh_token_and_ends_the_incoming_session(
    app, client: httpx.AsyncClient, new_client: ClientFactory
) -> None:
    email = unique_email()
    signup = await client.post(SIGNUP, json={"email": email, "password": PASSWORD})
    old_token = cookie_attributes(signup)["value"]

    login = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    new_token = cookie_attributes(login)["value"]

    assert new_token != old_token
    replay = new_client()
    replay.cookies.set(SESSION_COOKIE, old_token)
    assert (await replay.get(ME)).json() == {"authenticated": False, "user": None}
    assert (await client.get(ME)).json()["authenticated"] is True
    assert await count(app, Session) == 1


async def test_each_login_from_another_browser_gets_its_own_session(
    app, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    first = new_client()
    await sign_up(first, email=email)
    second = new_client()

    await second.post(LOGIN, json={"email": email, "password": PASSWORD})

    assert (await first.get(ME)).json()["authenticated"] is True
    assert (await second.get(ME)).json()["authenticated"] is True
    assert await count(app, Session) == 2


@pytest.mark.parametrize(
    "payload",
    [{"email": "a@example.com"}, {"password": PASSWORD}, {"email": "a@example.com", "password": PASSWORD, "x": 1}],
    ids=["no-password", "no-email", "extra-field"],
)
async def test_login_bad_input_is_422(client: httpx.AsyncClient, payload: dict) -> None:
    response = await client.post(LOGIN, json=payload)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


# --- logout and /me -------------------------------------------------------------------------


async def test_logout_deletes_the_session_and_clears_the_cookie(app, client: httpx.AsyncClient, alice) -> None:
    token = client.cookies.get(SESSION_COOKIE)

    response = await client.post(LOGOUT)

    assert response.status_code == 204
    cookie = cookie_attributes(response)
    assert cookie["name"] == SESSION_COOKIE and cookie["value"] == ""
    assert cookie["max-age"] == "0" and cookie["path"] == "/" and "httponly" in cookie and cookie["samesite"] == "Lax"
    assert response.headers["cache-control"] == "no-store"
    assert await count(app, Session) == 0
    stale = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    stale.cookies.set(SESSION_COOKIE, token)
    async with stale:
        assert (await stale.get(ME)).json()["authenticated"] is False


async def test_logout_without_a_session_is_204(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGOUT)

    assert response.status_code == 204
    assert cookie_attributes(response)["max-age"] == "0"


async def test_me_when_anonymous(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)

    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "user": None}


async def test_me_when_signed_in(client: httpx.AsyncClient, alice) -> None:
    response = await client.get(ME)

    assert response.status_code == 200
    assert response.json() == {"authenticated": True, "user": alice}
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]


@pytest.mark.parametrize(
    "cookie",
    ["", "garbage", "x" * 43, "a" * 5000, "';--", "\u0928\u0947\u092a\u093e\u0932", "%00"],
    ids=["empty", "short", "unknown-43", "huge", "sql", "devanagari", "nul"],
)
async def test_bad_cookie_values_mean_anonymous_and_create_nothing(app, client: httpx.AsyncClient, cookie: str) -> None:
    response = await client.get(ME, headers={"cookie": f"{SESSION_COOKIE}={cookie}".encode()})

    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "user": None}
    assert await count(app, Session) == 0


async def test_bad_cookie_on_a_protected_route_is_401_not_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/documents", headers={"cookie": f"{SESSION_COOKIE}=" + "A" * 43})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_an_expired_session_is_anonymous(app, client: httpx.AsyncClient, alice) -> None:
    async with app.state.db.engine.begin() as conn:
        await conn.execute(Session.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))

    assert (await client.get(ME)).json() == {"authenticated": False, "user": None}
    assert (await client.get("/api/v1/documents")).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (SIGNUP, b'{"email": "a\\ud800@example.com", "password": "correct horse"}'),
        (SIGNUP, b'{"email": "a@example.com", "password": "correct \\ud800 horse"}'),
        (SIGNUP, b'{"email": "a@example.com", "password": "correct horse", "full_name": "\\u0000"}'),
        (LOGIN, b'{"email": "a\\u0000@example.com", "password": "correct horse"}'),
        (LOGIN, b'{"email": "a\\udfff@example.com", "password": "correct horse"}'),
        (LOGIN, b'{"email": "a@example.com", "password": "\\ud800\\ud800\\ud800\\ud800"}'),
    ],
    ids=[
        "signup-surrogate-email",
        "signup-surrogate-password",
        "signup-nul-name",
        "login-nul",
        "login-surrogate",
        "login-surrogate-password",
    ],
)
async def test_text_no_database_can_store_is_422_not_500(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    response = await client.post(path, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
