"""Password hashing is a budget, not an amplifier: requests without a session share all hashing
threads but one and a per-IP budget, so a flood of wrong share-link passwords neither delays a
signed-in user nor turns one client into everyone's wait. Refusals are 429s; links are capped."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models import ShareLink
from tests.clocks import Clock
from tests.conftest import PASSWORD, ClientFactory, Person, SignUp, unique_email
from tests.processes import eventually
from tests.sharing_world import API, DOCS, create_doc, create_link

SHARED = f"{API}/shared"
LOGIN = f"{API}/auth/login"
LINK_PASSWORD = "open sesame"


class HeldHashes:
    """Checks of one hash are held in their thread until released: a flood that never ends,
    without timing. Counts how many are held at once, and how many requests reached a check."""

    def __init__(self, app: FastAPI, held_hash: str) -> None:
        self.held_hash, self.release = held_hash, threading.Event()
        self.running = self.most_at_once = self.requested = 0
        self._lock = threading.Lock()
        passwords = app.state.passwords
        original_verify, original_check = passwords.verify, passwords._verify

        async def verify(password_hash: str | None, password: str, **lane: Any) -> bool:
            if (password_hash or passwords._dummy_hash) == held_hash:  # an unknown email checks the dummy
                self.requested += 1
            return await original_verify(password_hash, password, **lane)

        def check(password_hash: str, password: str) -> bool:
            if password_hash != held_hash:
                return original_check(password_hash, password)
            with self._lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                assert self.release.wait(timeout=120), "the held checks were never released"
                return original_check(password_hash, password)
            finally:
                with self._lock:
                    self.running -= 1

        passwords.verify, passwords._verify = verify, check


async def link_hash(app: FastAPI, link_id: str) -> str:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(ShareLink.password_hash).where(ShareLink.id == uuid.UUID(link_id)))


FLOOD_SETTINGS = {
    "max_concurrent_hashes": 2,
    "anonymous_hashes_per_ip_per_minute": 1000,
    "login_failures_per_ip_per_minute": 1000,
    "link_failures_before_delay": 1000,
    "link_failures_per_ip_per_minute": 1000,
}


@pytest.mark.parametrize("settings", [FLOOD_SETTINGS], indirect=True)
@pytest.mark.parametrize("flood_of", ["link passwords", "logins"])
async def test_a_flood_of_anonymous_wrong_passwords_leaves_a_thread_for_signed_in_work(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp, flood_of: str
) -> None:
    email, owner = unique_email("owner"), new_client()
    await sign_up(owner, email=email)  # a signed-in browser that also holds a device cookie
    link = await create_link(owner, (await create_doc(owner))["id"], password=LINK_PASSWORD)
    if flood_of == "link passwords":
        held = HeldHashes(app, await link_hash(app, link["id"]))
        requests = [(f"{SHARED}/{link['token']}", {"password": f"guess {i}"}) for i in range(20)]
    else:  # unknown emails, each checked against the dummy hash
        held = HeldHashes(app, app.state.passwords._dummy_hash)
        requests = [(LOGIN, {"email": unique_email("nobody"), "password": f"guess {i}"}) for i in range(20)]
    flood = [asyncio.create_task(new_client().post(url, json=body)) for url, body in requests]
    try:

        async def flood_waits_on_full_slots() -> bool:
            # Every request of the flood has asked for its check, and the anonymous slots are busy.
            return held.requested == len(flood) and held.running == app.state.passwords.anonymous_slots

        await eventually(flood_waits_on_full_slots, within=60, what="the flood to fill the anonymous hashing slots")

        change = await asyncio.wait_for(
            owner.post(f"{API}/auth/password", json={"current_password": PASSWORD, "new_password": "a new passphrase"}),
            timeout=60,
        )
        trusted = await asyncio.wait_for(
            owner.post(LOGIN, json={"email": email, "password": "a new passphrase"}), timeout=60
        )

        assert change.status_code == 204, change.text
        assert trusted.status_code == 200, trusted.text
        assert held.running == held.most_at_once == app.state.passwords.anonymous_slots == 1
    finally:
        held.release.set()
        statuses = Counter(r.status_code for r in await asyncio.gather(*flood))
    assert statuses == {404 if flood_of == "link passwords" else 401: len(flood)}


@pytest.mark.parametrize(
    "settings",
    [
        {
            "anonymous_hashes_per_ip_per_minute": 5,
            "login_failures_per_ip_per_minute": 100,
            "login_failures_before_delay": 100,
        }
    ],
    indirect=True,
)
async def test_one_ip_budget_spans_logins_link_passwords_and_sign_ups(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp
) -> None:
    owner = new_client()
    await sign_up(owner)  # 1 of 5
    doc = await create_doc(owner)
    guarded = await create_link(owner, doc["id"], password=LINK_PASSWORD)
    open_link = await create_link(owner, doc["id"])
    anonymous = new_client()
    signup = {"email": unique_email(), "password": PASSWORD}

    spent = [
        (await anonymous.post(LOGIN, json={"email": unique_email(), "password": "wrong password"})).status_code,
        (await anonymous.post(LOGIN, json={"email": unique_email(), "password": "wrong password"})).status_code,
        (await anonymous.post(f"{SHARED}/{guarded['token']}", json={"password": "wrong guess"})).status_code,
        (await anonymous.post(f"{SHARED}/{guarded['token']}", json={"password": LINK_PASSWORD})).status_code,
        (await anonymous.post(f"{SHARED}/{guarded['token']}", json={"password": "wrong again"})).status_code,
    ]
    over = [
        (await anonymous.post(f"{SHARED}/{guarded['token']}", json={"password": LINK_PASSWORD})).status_code,
        (await anonymous.post(LOGIN, json={"email": unique_email(), "password": "wrong password"})).status_code,
        (await new_client().post(f"{API}/auth/signup", json=signup)).status_code,
    ]
    no_hash = (await anonymous.get(f"{SHARED}/{open_link['token']}")).status_code

    assert spent == [401, 401, 404, 200, 404]  # the right password gave its place back
    assert over == [429, 429, 429]
    assert no_hash == 200


# --- links per document ------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"max_links_per_document": 3}], indirect=True)
async def test_a_document_holds_at_most_max_links_live_links(client: httpx.AsyncClient, alice: Any) -> None:
    doc = await create_doc(client)
    url = f"{DOCS}/{doc['id']}/links"
    links = [await create_link(client, doc["id"]) for _ in range(3)]

    refused = await client.post(url, json={})
    await client.delete(f"{url}/{links[0]['id']}")
    after_revoke = await client.post(url, json={})
    elsewhere = await client.post(f"{DOCS}/{(await create_doc(client))['id']}/links", json={})

    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "This document already has 3 live links: revoke one first",
        "code": "too_many_links",
        "limit": 3,
    }
    assert after_revoke.status_code == 201
    assert elsewhere.status_code == 201
    assert len((await client.get(url)).json()) == 4  # three live, one revoked


@pytest.mark.parametrize("settings", [{"max_links_per_document": 3}], indirect=True)
async def test_links_created_at_once_stop_at_the_cap(client: httpx.AsyncClient, alice: Any) -> None:
    doc = await create_doc(client)

    responses = await asyncio.gather(*(client.post(f"{DOCS}/{doc['id']}/links", json={}) for _ in range(10)))

    assert Counter(r.status_code for r in responses) == {201: 3, 409: 7}
    assert len((await client.get(f"{DOCS}/{doc['id']}/links")).json()) == 3


@pytest.mark.parametrize("settings", [{"max_links_per_document": 1}], indirect=True)
async def test_expired_links_do_not_count_towards_the_cap_but_live_ones_do(clock: Clock, owner: Person) -> None:
    doc = await create_doc(owner.client)
    await create_link(owner.client, doc["id"], expires_at=(clock.now + timedelta(hours=1)).isoformat())

    clock.advance(hours=2)
    live = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={})
    one_too_many = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={})

    assert live.status_code == 201, live.text
    assert one_too_many.status_code == 409
