"""At most MAX_SESSIONS_PER_USER live sessions per user: a new one ends the least recently used,
audited like any other session end. Time comes from an injected clock."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from app.models import Session
from tests.clocks import T0, Clock
from tests.conftest import PASSWORD, ClientFactory, SignUp, unique_email
from tests.sharing_world import audit_rows

API = "/api/v1"
LOGIN = f"{API}/auth/login"
ME = f"{API}/auth/me"


pytestmark = pytest.mark.usefixtures("clock")


async def log_in(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get(ME)).json()["authenticated"]


async def current_session_id(client: httpx.AsyncClient) -> str:
    sessions = (await client.get(f"{API}/auth/sessions")).json()
    return next(s["id"] for s in sessions if s["current"])


async def session_count(app: FastAPI) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Session))


@pytest.mark.parametrize("settings", [{"max_sessions_per_user": 3}], indirect=True)
async def test_a_session_past_the_limit_ends_the_least_recently_used(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp, clock: Clock
) -> None:
    email = unique_email()
    laptop, phone, tablet, kiosk = (new_client() for _ in range(4))
    user = await sign_up(laptop, email=email)
    for browser in (phone, tablet):
        clock.advance(minutes=5)
        await log_in(browser, email)
    phone_session = await current_session_id(phone)
    clock.advance(minutes=5)
    assert await signed_in(laptop)  # the first one made, but used since: not the one to end

    clock.advance(minutes=5)
    await log_in(kiosk, email)

    assert [await signed_in(b) for b in (laptop, phone, tablet, kiosk)] == [True, False, True, True]
    assert await session_count(app) == 3
    (event,) = await audit_rows(app, "auth.session_evicted")
    assert (str(event.actor_id), event.actor_email) == (user["id"], email)
    assert (event.target_type, event.target_id) == ("user", user["id"])
    assert event.details == {"session_id": phone_session, "limit": 3}


# Six logins at once from browsers without a device cookie: each counts as an attempt until its
# password is checked, so the email's free attempts are raised past six.
@pytest.mark.parametrize(
    "settings",
    [{"max_sessions_per_user": 2, "max_concurrent_hashes": 6, "login_failures_before_delay": 10}],
    indirect=True,
)
async def test_sign_ins_at_once_still_leave_at_most_the_limit(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp
) -> None:
    """Hashes run side by side (MAX_CONCURRENT_HASHES), so the sign-ins' transactions overlap."""
    email = unique_email()
    await sign_up(new_client(), email=email)
    browsers = [new_client() for _ in range(6)]

    await asyncio.gather(*(log_in(browser, email) for browser in browsers))

    assert await session_count(app) == 2
    assert len(await audit_rows(app, "auth.session_evicted")) == 5


async def test_by_default_the_fifty_first_session_ends_the_least_recently_used(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp, clock: Clock
) -> None:
    email = unique_email()
    user = await sign_up(new_client(), email=email)
    # 49 more browsers signed in earlier, each used a minute after the one before.
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": uuid.UUID(user["id"]),
            "token_hash": hashlib.sha256(f"browser {i}".encode()).hexdigest(),
            "created_at": T0 - timedelta(days=1),
            "last_seen_at": T0 - timedelta(minutes=60 - i),
            "expires_at": T0 + timedelta(days=6),
        }
        for i in range(49)
    ]
    async with app.state.db.engine.begin() as conn:
        await conn.execute(insert(Session), rows)
    assert await session_count(app) == 50

    await log_in(new_client(), email)

    async with app.state.db.engine.connect() as conn:
        remaining = set((await conn.scalars(select(Session.id))).all())
    assert len(remaining) == 50
    assert rows[0]["id"] not in remaining and {r["id"] for r in rows[1:]} <= remaining
