"""Login throttling under real concurrency: many requests at once against the app, with the
throttle's counts in this process's memory and in the real Redis (TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.services.throttle import AuthThrottle
from main import create_app
from tests.conftest import PASSWORD, ClientFactory, SignUp, _empty_tables, make_settings, set_cookie, unique_email

LOGIN = "/api/v1/auth/login"


# A first delay long enough to outlast any burst here (60 requests at once take seconds on a busy
# machine): what a test sees refused, a limit refused, not the clock.
pytestmark = pytest.mark.settings(login_delay_base_seconds=60)


def count_verifications(app: FastAPI) -> list[str]:
    """Every password check the app makes from now on (the hash checked against)."""
    calls: list[str] = []
    passwords = app.state.passwords
    original = passwords._verify

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return original(password_hash, password)

    passwords._verify = counting
    return calls


async def attempt_all(clients: list[httpx.AsyncClient], emails: list[str]) -> Counter[int]:
    responses = await asyncio.gather(
        *(c.post(LOGIN, json={"email": e, "password": "wrong password"}) for c, e in zip(clients, emails, strict=True))
    )
    return Counter(r.status_code for r in responses)


@pytest.mark.parametrize("settings", [{"login_failures_per_ip_per_minute": 1000}], indirect=True)
async def test_60_concurrent_wrong_passwords_for_one_email_check_at_most_the_free_attempts(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email("victim")
    await sign_up(new_client(), email=email)
    verified = count_verifications(app)

    statuses = await attempt_all([new_client() for _ in range(60)], [email] * 60)

    allowed = app.state.settings.login_failures_before_delay
    assert statuses == {401: allowed, 429: 60 - allowed}
    assert len(verified) == allowed


@pytest.mark.parametrize("settings", [{"login_failures_per_ip_per_minute": 10}], indirect=True)
async def test_80_concurrent_wrong_passwords_for_80_emails_from_one_ip_hold_the_ip_limit(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory
) -> None:
    verified = count_verifications(app)

    statuses = await attempt_all([new_client() for _ in range(80)], [unique_email("spray") for _ in range(80)])

    assert statuses == {401: 10, 429: 70}
    assert len(verified) == 10


@pytest.mark.parametrize("settings", [{"login_failures_per_ip_per_minute": 3}], indirect=True)
async def test_successful_logins_give_back_their_place_in_the_ip_limit(
    throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)

    successes = await asyncio.gather(
        *(new_client().post(LOGIN, json={"email": email, "password": PASSWORD}) for _ in range(3))
    )
    failures = await attempt_all([new_client() for _ in range(4)], [unique_email() for _ in range(4)])

    assert [r.status_code for r in successes] == [200, 200, 200]
    assert failures == {401: 3, 429: 1}


# --- device cookies: an attacker who keeps an email throttled does not keep its owner out ---------


async def throttle_email(attacker: httpx.AsyncClient, email: str, failures: int) -> None:
    statuses = [(await attacker.post(LOGIN, json={"email": email, "password": "guess"})).status_code for _ in range(6)]
    assert statuses == [401] * failures + [429] * (6 - failures)


async def test_the_owners_browser_logs_in_at_once_while_an_attacker_keeps_the_email_throttled(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email("victim")
    laptop = new_client()
    await sign_up(laptop, email=email)  # this browser now holds a device cookie for the account
    attacker = new_client()
    await throttle_email(attacker, email, app.state.settings.login_failures_before_delay)

    *flood, owner, stranger = await asyncio.gather(
        *(attacker.post(LOGIN, json={"email": email, "password": f"guess {i}"}) for i in range(20)),
        laptop.post(LOGIN, json={"email": email, "password": PASSWORD}),
        new_client().post(LOGIN, json={"email": email, "password": PASSWORD}),
    )

    assert {r.status_code for r in flood} == {429}
    assert owner.status_code == 200, owner.text
    assert stranger.status_code == 429  # the right password, from a browser the account never used
    assert (await laptop.get("/api/v1/auth/me")).json()["user"]["email"] == email


async def test_a_device_cookies_own_failures_hold_only_that_browser(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email("owner")
    laptop, phone = new_client(), new_client()
    await sign_up(laptop, email=email)
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200

    await throttle_email(laptop, email, app.state.settings.login_failures_before_delay)

    assert (await laptop.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 429
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await new_client().post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200


@pytest.mark.parametrize("cookie", ["another account's", "tampered", "garbage"])
async def test_only_a_genuine_device_cookie_of_the_same_account_is_trusted(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp, cookie: str
) -> None:
    email, other = unique_email("victim"), new_client()
    await sign_up(new_client(), email=email)
    await sign_up(other)
    await throttle_email(new_client(), email, app.state.settings.login_failures_before_delay)
    value = {
        "another account's": other.cookies["device"],
        "tampered": email + other.cookies["device"][len(email) :],
        "garbage": "x" * 90,
    }[cookie]
    browser = new_client()
    browser.cookies.set("device", value, path="/api/v1/auth")

    response = await browser.post(LOGIN, json={"email": email, "password": PASSWORD})

    assert response.status_code == 429


async def test_the_device_cookie_is_httponly_lax_long_lived_and_sent_only_to_sign_in(
    new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email()
    await sign_up(new_client(), email=email)

    response = await new_client().post(LOGIN, json={"email": email, "password": PASSWORD})

    header = set_cookie(response, "device")
    assert header is not None
    name_value, *attributes = header.split("; ")
    assert len(name_value) > len("device=") + 60
    assert attributes == ["HttpOnly", "SameSite=Lax", "Path=/api/v1/auth", f"Max-Age={365 * 24 * 3600}"]


async def test_the_device_cookie_is_secure_in_prod(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, env="prod", auto_migrate=False))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as client,
    ):
        try:
            response = await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        finally:
            await _empty_tables(app)

    assert response.status_code == 201
    assert (set_cookie(response, "device") or "").endswith("; Secure")


async def test_a_signed_in_owner_changes_the_password_while_the_email_is_throttled(
    app: FastAPI, throttle: AuthThrottle, new_client: ClientFactory, sign_up: SignUp
) -> None:
    email = unique_email("victim")
    laptop = new_client()
    await sign_up(laptop, email=email)
    await throttle_email(new_client(), email, app.state.settings.login_failures_before_delay)

    response = await laptop.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a new passphrase"}
    )

    assert response.status_code == 204, response.text
