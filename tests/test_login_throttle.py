"""Login throttling under real concurrency: many requests at once against the app, with the
throttle's counts in this process's memory and in the real Redis (TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.services.throttle import AuthThrottle
from tests.conftest import PASSWORD, ClientFactory, SignUp, unique_email
from tests.processes import REDIS_URL, redis_available, redis_client, require_service

LOGIN = "/api/v1/auth/login"
# The sliding minute's clock, held in the middle of a minute: a race that straddles two minutes
# would let the previous minute's weight decide instead of the limit under test.
MID_MINUTE = (time.time() // 60) * 60 + 30


@pytest.fixture(params=["memory", "redis"])
def throttle(request: pytest.FixtureRequest, app: FastAPI) -> Iterator[AuthThrottle]:
    """The app's throttle on each storage; on Redis under a key prefix of this test's own."""
    settings = app.state.settings
    if request.param == "memory":
        app.state.throttle = AuthThrottle(settings, clock=lambda: MID_MINUTE)
        yield app.state.throttle
        return
    require_service(redis_available(), f"Redis ({REDIS_URL})")
    prefix = f"test-{uuid.uuid4().hex}"
    redis_settings = settings.model_copy(update={"redis_url": REDIS_URL})
    app.state.throttle = AuthThrottle(redis_settings, clock=lambda: MID_MINUTE, key_prefix=prefix)
    try:
        yield app.state.throttle
    finally:
        with redis_client() as client:
            keys = list(client.scan_iter(f"{prefix}*"))
            assert keys, "the Redis throttle stored nothing: the test did not use it"
            client.delete(*keys)


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
