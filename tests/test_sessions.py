"""Session lifecycle and auth hardening: rolling expiry, management, password change, throttling,
rehashing and response headers. Time comes from an injected clock: no test sleeps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import bindparam, event, func, insert, select

from app.core.security import SESSION_COOKIE
from app.crud.session import is_live, live_at
from app.models import Document, Session, User
from main import create_app
from tests.clocks import T0, Clock
from tests.conftest import PASSWORD, ClientFactory, SignUp, make_settings, set_cookie, unique_email

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
SESSIONS = "/api/v1/auth/sessions"
PASSWORD_URL = "/api/v1/auth/password"


async def authenticated(client: httpx.AsyncClient) -> bool:
    response = await client.get(ME)
    assert response.status_code == 200
    return response.json()["authenticated"]


def cookie_max_age(response: httpx.Response) -> int | None:
    header = set_cookie(response)
    if not header:
        return None
    attrs = dict(part.strip().partition("=")[::2] for part in header.split(";"))
    return int(attrs["Max-Age"])


async def session_count(app: FastAPI) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Session))


# --- rolling sessions ---------------------------------------------------------------------------


async def test_a_session_is_alive_just_before_the_idle_timeout(
    client: httpx.AsyncClient, clock: Clock, sign_up: SignUp
) -> None:
    await sign_up(client)
    clock.advance(days=7, seconds=-1)

    assert await authenticated(client)


async def test_a_session_dies_just_after_the_idle_timeout(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock, sign_up: SignUp
) -> None:
    await sign_up(client)
    clock.advance(days=7, seconds=1)

    response = await client.get(ME)

    assert response.json() == {"authenticated": False, "user": None}
    assert cookie_max_age(response) == 0  # the dead cookie is cleared
    assert await session_count(app) == 0  # and its row is gone
    assert (await client.get("/api/v1/documents")).status_code == 401


async def test_use_extends_the_idle_timeout(client: httpx.AsyncClient, clock: Clock, sign_up: SignUp) -> None:
    await sign_up(client)
    for _ in range(3):
        clock.advance(days=6)
        assert await authenticated(client)

    clock.advance(days=7, seconds=-1)
    assert await authenticated(client)


async def test_the_absolute_lifetime_is_not_extended_by_activity(
    client: httpx.AsyncClient, clock: Clock, sign_up: SignUp
) -> None:
    await sign_up(client)
    while clock.now < T0 + timedelta(days=30, seconds=-2):
        clock.advance(hours=12)
        clock.now = min(clock.now, T0 + timedelta(days=30, seconds=-1))
        assert await authenticated(client)

    clock.now = T0 + timedelta(days=30, seconds=1)
    assert not await authenticated(client)


async def test_the_cookie_max_age_follows_the_renewed_expiry(
    client: httpx.AsyncClient, clock: Clock, sign_up: SignUp
) -> None:
    await sign_up(client)
    for _ in range(4):
        clock.advance(days=6)
        await client.get(ME)
    clock.advance(days=5)  # day 29, five days after the last use

    response = await client.get(ME)

    # Renewed: min(now + 7 days idle, created + 30 days) = one day from now.
    assert cookie_max_age(response) == 24 * 3600


async def test_reads_within_the_touch_interval_write_nothing(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock, sign_up: SignUp
) -> None:
    await sign_up(client)
    writes: list[str] = []

    def count_session_writes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE SESSIONS"):
            writes.append(statement)

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count_session_writes)
    try:
        for _ in range(20):
            clock.advance(seconds=2)
            response = await client.get(ME)
            assert "set-cookie" not in response.headers
        assert writes == []

        clock.advance(seconds=21)  # 61 s since sign-up
        response = await client.get(ME)
        assert len(writes) == 1
        assert cookie_max_age(response) == 7 * 24 * 3600
    finally:
        event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", count_session_writes)


async def test_opening_a_document_checks_the_session_by_the_same_rules(
    app: FastAPI, client: httpx.AsyncClient, new_client: ClientFactory, clock: Clock, sign_up: SignUp
) -> None:
    """GET /documents/{id} answers the session check and reads the document in one query: a
    session due a touch is renewed, one within the interval is left alone, an expired one ends,
    an unknown token is no one, and a valid session with a document it may not see is 404."""
    await sign_up(client)
    created = await client.post("/api/v1/documents", json={"title": "पत्र"})
    url = f"/api/v1/documents/{created.json()['id']}"

    clock.advance(days=6)
    renewed = await client.get(url)
    clock.advance(seconds=30)
    untouched = await client.get(url)
    stranger = new_client()
    await sign_up(stranger)
    hidden = await stranger.get(url)
    forger = new_client()
    forger.cookies.set(SESSION_COOKIE, "A" * 43)  # well-formed, but no session has it
    unknown = await forger.get(url)
    clock.advance(days=7, seconds=1)
    expired = await client.get(url)

    assert (renewed.status_code, cookie_max_age(renewed)) == (200, 7 * 24 * 3600)
    assert renewed.json()["title"] == "पत्र"
    assert (untouched.status_code, untouched.headers.get("set-cookie")) == (200, None)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "not_authenticated")
    assert (expired.status_code, expired.json()["code"]) == (401, "not_authenticated")
    assert cookie_max_age(expired) == 0
    assert await session_count(app) == 1  # the stranger's (not used since); the expired one is gone


async def test_creating_a_document_checks_the_session_by_the_same_rules(
    app: FastAPI, client: httpx.AsyncClient, new_client: ClientFactory, clock: Clock, sign_up: SignUp
) -> None:
    """POST /documents answers the session check and writes the document in one statement on
    PostgreSQL: a session due a touch is renewed, one within the interval is left alone; an
    expired session ends and an unknown token is no one, and neither writes a document."""
    await sign_up(client)
    url = "/api/v1/documents"

    clock.advance(days=6)
    renewed = await client.post(url, json={"title": "पत्र"})
    clock.advance(seconds=30)
    untouched = await client.post(url, json={"title": "दोस्रो"})
    forger = new_client()
    forger.cookies.set(SESSION_COOKIE, "A" * 43)  # well-formed, but no session has it
    unknown = await forger.post(url, json={"title": "forged"})
    clock.advance(days=7, seconds=1)
    expired = await client.post(url, json={"title": "late"})

    assert (renewed.status_code, cookie_max_age(renewed)) == (201, 7 * 24 * 3600)
    assert (untouched.status_code, untouched.headers.get("set-cookie")) == (201, None)
    assert (unknown.status_code, unknown.json()["code"]) == (401, "not_authenticated")
    assert (expired.status_code, expired.json()["code"]) == (401, "not_authenticated")
    assert cookie_max_age(expired) == 0
    assert await session_count(app) == 0  # the expired one is gone
    async with app.state.db.engine.connect() as conn:
        titles = (await conn.scalars(select(Document.title).order_by(Document.created_at))).all()
        owners = set((await conn.scalars(select(Document.owner_id))).all())
    assert titles == ["पत्र", "दोस्रो"]
    assert owners == {uuid.UUID(renewed.json()["owner_id"])}


@pytest.mark.parametrize(
    "settings",
    [{"session_idle_timeout": "PT30M", "session_max_age": "PT12H", "session_touch_interval": "PT1M"}],
    indirect=True,
)
async def test_owasp_strict_timeouts_are_honoured(client: httpx.AsyncClient, clock: Clock, sign_up: SignUp) -> None:
    response = await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    assert cookie_max_age(response) == 30 * 60

    clock.advance(minutes=29)
    assert await authenticated(client)
    clock.advance(minutes=31)
    assert not await authenticated(client)


# --- pruning -------------------------------------------------------------------------------------


async def test_pruning_deletes_expired_sessions_in_batches_and_keeps_live_ones(
    app: FastAPI, sign_up: SignUp, new_client: ClientFactory
) -> None:
    from app.services.sessions import prune_expired_sessions

    user = await sign_up(new_client())
    now = datetime.now(UTC)
    rows = [
        {
            "id": __import__("uuid").uuid4(),
            "token_hash": f"{i:064x}",
            "user_id": __import__("uuid").UUID(user["id"]),
            "created_at": now - timedelta(days=40),
            "last_seen_at": now - timedelta(days=10),
            "expires_at": now - timedelta(seconds=1) if i < 2500 else now + timedelta(days=1),
        }
        for i in range(2600)
    ]
    async with app.state.db.engine.begin() as conn:
        await conn.execute(insert(Session), rows)

    deleted = await prune_expired_sessions(db=app.state.db, now=now, batch_size=1000)
    again = await prune_expired_sessions(db=app.state.db, now=now, batch_size=1000)

    assert (deleted, again) == (2500, 0)
    assert await session_count(app) == 100 + 1  # the 100 live rows and the sign-up's session


def test_sessions_prune_command(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from app.cli import cli
    from app.core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["sessions", "prune"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "expired sessions" in result.output


# --- session management --------------------------------------------------------------------------


async def test_a_user_sees_their_sessions_with_the_current_one_marked(
    new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    laptop = new_client()
    await sign_up(laptop, email=email)
    phone = new_client()
    await phone.post(LOGIN, json={"email": email, "password": PASSWORD}, headers={"user-agent": "Phone/1.0"})

    response = await phone.get(SESSIONS)

    assert response.status_code == 200
    sessions = response.json()
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    current = next(s for s in sessions if s["current"])
    assert current["user_agent"] == "Phone/1.0"
    assert set(current) == {"id", "created_at", "last_seen_at", "expires_at", "user_agent", "ip", "current"}
    tokens = {laptop.cookies[SESSION_COOKIE], phone.cookies[SESSION_COOKIE]}
    assert not tokens & {s["id"] for s in sessions}


async def test_revoking_a_session_signs_that_browser_out(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    laptop = new_client()
    await sign_up(laptop, email=email)
    phone = new_client()
    await phone.post(LOGIN, json={"email": email, "password": PASSWORD})
    laptop_id = next(s["id"] for s in (await laptop.get(SESSIONS)).json() if s["current"])

    response = await phone.delete(f"{SESSIONS}/{laptop_id}")

    assert response.status_code == 204
    assert not await authenticated(laptop)
    assert await authenticated(phone)


async def test_revoking_the_current_session_clears_its_cookie(client: httpx.AsyncClient, alice: dict) -> None:
    own = (await client.get(SESSIONS)).json()[0]["id"]

    response = await client.delete(f"{SESSIONS}/{own}")

    assert response.status_code == 204
    assert cookie_max_age(response) == 0
    assert not await authenticated(client)


async def test_another_users_session_id_is_404(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient, alice: dict
) -> None:
    bobs = (await bob_client.get(SESSIONS)).json()[0]["id"]

    for target in (bobs, "not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        response = await client.delete(f"{SESSIONS}/{target}")
        assert response.status_code == 404
    assert await authenticated(bob_client)


async def test_session_management_needs_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.get(SESSIONS)).status_code == 401
    assert (await client.delete(f"{SESSIONS}/00000000-0000-4000-8000-000000000000")).status_code == 401
    assert (await client.post("/api/v1/auth/logout-all")).status_code == 401


async def test_logout_all_ends_every_session_including_this_one(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    laptop = new_client()
    await sign_up(laptop, email=email)
    phone = new_client()
    await phone.post(LOGIN, json={"email": email, "password": PASSWORD})

    response = await phone.post("/api/v1/auth/logout-all")

    assert response.status_code == 204
    assert cookie_max_age(response) == 0
    assert not await authenticated(phone)
    assert not await authenticated(laptop)
    assert await session_count(app) == 0


# --- password change -----------------------------------------------------------------------------


async def test_password_change_rotates_this_session_and_ends_the_others(
    new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    laptop = new_client()
    await sign_up(laptop, email=email)
    phone = new_client()
    await phone.post(LOGIN, json={"email": email, "password": PASSWORD})
    old_token = laptop.cookies[SESSION_COOKIE]

    response = await laptop.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "new horse battery"})

    assert response.status_code == 204
    assert laptop.cookies[SESSION_COOKIE] != old_token
    assert await authenticated(laptop)
    assert not await authenticated(phone)
    assert (await new_client().post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 401
    assert (await new_client().post(LOGIN, json={"email": email, "password": "new horse battery"})).status_code == 200


async def test_password_change_with_a_wrong_current_password_is_401(client: httpx.AsyncClient, alice: dict) -> None:
    response = await client.post(
        PASSWORD_URL, json={"current_password": "wrong guess", "new_password": "new horse battery"}
    )

    assert response.status_code == 401
    assert await authenticated(client)


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "password123"},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": "new horse battery", "extra": 1},
    ],
    ids=["short", "common", "missing", "extra"],
)
async def test_password_change_bad_input_is_422(client: httpx.AsyncClient, alice: dict, body: dict) -> None:
    assert (await client.post(PASSWORD_URL, json=body)).status_code == 422


async def test_password_change_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "new horse battery"})

    assert response.status_code == 401


@pytest.mark.parametrize("password", ["password1", "iloveyou", "Qwertyuiop", "12345678"])
async def test_the_most_common_passwords_are_refused_at_signup(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": password})

    assert response.status_code == 422
    assert "common" in response.json()["detail"]


# --- throttling -----------------------------------------------------------------------------------


async def fail_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": "wrong password"})


@pytest.mark.parametrize("exists", [True, False], ids=["real-email", "unknown-email"])
async def test_repeated_failures_for_an_email_get_429_with_retry_after(
    new_client: ClientFactory, sign_up: SignUp, exists: bool
) -> None:
    email = unique_email()
    if exists:
        await sign_up(new_client(), email=email)
    attacker = new_client()

    statuses = [(await fail_login(attacker, email)).status_code for _ in range(5)]
    throttled = await fail_login(attacker, email)

    assert statuses == [401] * 5
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_requests"
    assert 1 <= int(throttled.headers["retry-after"]) <= 15 * 60


async def test_429s_do_not_reveal_whether_the_email_exists(new_client: ClientFactory, sign_up: SignUp) -> None:
    real = unique_email()
    await sign_up(new_client(), email=real)
    attacker = new_client()
    responses = {}
    for email in (real, unique_email()):
        for _ in range(5):
            await fail_login(attacker, email)
        responses[email] = await fail_login(attacker, email)

    real_response, unknown_response = responses.values()
    assert real_response.status_code == unknown_response.status_code == 429
    assert real_response.content == unknown_response.content
    assert real_response.headers["retry-after"] == unknown_response.headers["retry-after"]


async def test_even_the_right_password_waits_out_the_delay(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)
    for _ in range(5):
        await fail_login(new_client(), email)

    response = await new_client().post(LOGIN, json={"email": email, "password": PASSWORD})

    assert response.status_code == 429


async def test_a_success_resets_the_email_counter(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)
    for _ in range(4):
        await fail_login(new_client(), email)
    assert (await new_client().post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200

    statuses = [(await fail_login(new_client(), email)).status_code for _ in range(5)]

    assert statuses == [401] * 5


@pytest.mark.parametrize("settings", [{"login_failures_per_ip_per_minute": 3}], indirect=True)
async def test_failures_from_one_ip_across_emails_get_429(client: httpx.AsyncClient) -> None:
    statuses = [(await fail_login(client, unique_email())).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


async def test_successful_logins_are_never_throttled(new_client: ClientFactory, sign_up: SignUp) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)
    browser = new_client()

    statuses = {(await browser.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code for _ in range(40)}

    assert statuses == {200}


@pytest.mark.parametrize("settings", [{"signups_per_ip_per_hour": 2}], indirect=True)
async def test_signups_per_ip_are_limited(new_client: ClientFactory) -> None:
    statuses = [
        (
            await new_client().post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [201, 201, 429]


async def test_a_wrong_current_password_counts_towards_the_delay(client: httpx.AsyncClient, alice: dict) -> None:
    for _ in range(5):
        await client.post(PASSWORD_URL, json={"current_password": "wrong guess", "new_password": "new horse battery"})

    response = await client.post(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "new horse battery"})

    assert response.status_code == 429
    assert "retry-after" in response.headers


# --- hashing hygiene -------------------------------------------------------------------------------


async def test_an_old_hash_is_rehashed_at_the_next_login(
    app: FastAPI, database_url: str, tmp_path: Path, sign_up: SignUp, new_client: ClientFactory
) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)
    stronger = create_app(make_settings(database_url, tmp_path, argon2_time_cost=3))
    transport = httpx.ASGITransport(app=stronger)
    async with LifespanManager(stronger), httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
        assert (await c.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    async with app.state.db.engine.connect() as conn:
        stored = await conn.scalar(select(User.password_hash).where(User.email == email))
    assert stored.startswith("$argon2id$v=19$m=19456,t=3,p=1$")


# --- headers and request bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/ping", "/health", "/api/v1/documents"])
async def test_hardening_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "server" not in response.headers


async def test_swagger_ui_gets_a_policy_that_lets_it_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in policy and "frame-ancestors 'none'" in policy


async def test_an_auth_form_with_100000_fields_is_refused_fast(client: httpx.AsyncClient) -> None:
    body = "&".join(f"f{i}=x" for i in range(100_000)).encode()

    response = await client.post(LOGIN, content=body, headers={"content-type": "application/x-www-form-urlencoded"})

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/v1/documents"), ("POST", PASSWORD_URL)], ids=["documents", "password"]
)
async def test_a_json_endpoint_given_text_plain_is_415(
    client: httpx.AsyncClient, alice: dict, method: str, path: str
) -> None:
    response = await client.request(method, path, content=b'{"title": "x"}', headers={"content-type": "text/plain"})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("before_expiry", "live"),
    [(timedelta(microseconds=1), True), (timedelta(0), False), (timedelta(microseconds=-1), False)],
    ids=["a microsecond before", "at expiry", "a microsecond after"],
)
async def test_the_session_rule_in_sql_and_in_python_agree_at_the_boundary(
    app: FastAPI, before_expiry: timedelta, live: bool
) -> None:
    """`live_at` (written into the statement that creates a document for a session) and
    `is_live` (what the session check settles with) are one rule: a stored session is live
    strictly before its expiry, on this engine's own comparison of stored times."""
    user_id, session_id, expires_at = uuid.uuid4(), uuid.uuid4(), T0 + timedelta(days=3, microseconds=123457)
    now = expires_at - before_expiry
    async with app.state.db.write_engine.begin() as conn:
        email = unique_email("boundary")
        await conn.execute(insert(User).values(id=user_id, email=email, email_key=email, password_hash="x"))
        await conn.execute(
            insert(Session).values(
                id=session_id,
                user_id=user_id,
                token_hash=uuid.uuid4().hex,
                created_at=T0,
                last_seen_at=T0,
                expires_at=expires_at,
            )
        )
        in_sql = await conn.scalar(
            select(live_at(Session.expires_at, bindparam("now", type_=Session.expires_at.type))).where(
                Session.id == session_id
            ),
            {"now": now},
        )
    assert bool(in_sql) is live
    assert is_live(expires_at, now) is live
