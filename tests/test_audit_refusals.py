"""Refusals that cost a stranger nothing (random link tokens, wrong passwords, failed logins) do
not write a row each: a client's repeats of one refusal within a minute are one row with a count,
and past its per-IP limit a client is refused before anything is looked up."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from app.services import audit
from app.services.throttle import AuthThrottle
from tests.conftest import ClientFactory, Person, SignUp, unique_email
from tests.sharing_world import API, DOCS, audit_rows, create_doc, create_link

SHARED = f"{API}/shared"
LOGIN = f"{API}/auth/login"
ASGI_CLIENT_IP = "127.0.0.1"  # what httpx's ASGI transport reports as the client address
# Every event of these tests happens in one minute: where a minute ends is not what is tested.
IN_ONE_MINUTE = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def audit_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "utcnow", lambda: IN_ONE_MINUTE)


async def test_300_requests_to_random_tokens_leave_a_handful_of_rows_counting_all_300(
    app: FastAPI, throttle: AuthThrottle, client: httpx.AsyncClient
) -> None:
    statuses = Counter([(await client.get(f"{SHARED}/{secrets.token_urlsafe(32)}")).status_code for _ in range(300)])

    limit = app.state.settings.link_failures_per_ip_per_minute
    assert statuses == {404: limit, 429: 300 - limit}
    rows = await audit_rows(app)
    assert [(row.action, row.count, row.target_id, row.details, row.ip) for row in rows] == [
        ("link.access_denied", limit, None, {"reason": "unknown_token"}, ASGI_CLIENT_IP),
        ("link.throttled", 300 - limit, None, {}, ASGI_CLIENT_IP),
    ]


@pytest.mark.parametrize("settings", [{"link_failures_per_ip_per_minute": 1000}], indirect=True)
async def test_repeats_arriving_at_once_are_all_counted(app: FastAPI, new_client: ClientFactory) -> None:
    responses = await asyncio.gather(*(new_client().get(f"{SHARED}/{secrets.token_urlsafe(32)}") for _ in range(40)))

    assert {r.status_code for r in responses} == {404}
    assert [row.count for row in await audit_rows(app, "link.access_denied")] == [40]


async def test_failed_logins_of_strangers_are_one_row_keeping_the_first_email(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp
) -> None:
    member = unique_email("member")
    await sign_up(new_client(), email=member)
    strangers = [unique_email("nobody") for _ in range(6)]
    attacker = new_client()

    for email in [*strangers, member, member]:
        assert (await attacker.post(LOGIN, json={"email": email, "password": "wrong password"})).status_code == 401

    rows = await audit_rows(app, "auth.login_failed")
    assert [(row.actor_email, row.count, row.details) for row in rows] == [
        (None, 6, {"email": strangers[0]}),
        (member, 2, {"email": member}),
    ]


async def test_the_owner_sees_wrong_passwords_on_a_link_as_one_event_with_its_count(
    owner: Person, new_client: ClientFactory
) -> None:
    doc = await create_doc(owner.client)
    link = await create_link(owner.client, doc["id"], password="open sesame")
    guesser = new_client()
    for n in range(3):
        await guesser.post(f"{SHARED}/{link['token']}", json={"password": f"guess {n}"})

    events = (await owner.client.get(f"{DOCS}/{doc['id']}/activity")).json()["items"]

    assert [(e["action"], e["count"], e["details"]) for e in events] == [
        ("link.access_denied", 3, {"reason": "wrong_password", "link_id": link["id"]}),
        ("link.create", 1, {"link_id": link["id"], "expires_at": None, "password": True}),
        ("document.create", 1, {}),
    ]
