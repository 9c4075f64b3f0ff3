"""Share-link passwords: at least 8 characters; wrong guesses slowed per link and per client IP,
right ones never; a link never dies of its guesses; any Unicode password opens the file too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models import ShareLink
from app.services.throttle import AuthThrottle
from tests.conftest import Person
from tests.processes import eventually
from tests.sharing_world import API, DOCS, create_doc, create_link, png_bytes, upload

SHARED = f"{API}/shared"
PASSWORD = "open sesame"
NEPALI = "खुल जा सिमसिम"
From = Callable[[str], httpx.AsyncClient]


# A delay long enough that nothing here lapses by itself, unless a test asks otherwise.
pytestmark = pytest.mark.settings(login_delay_base_seconds=60)


@pytest.fixture
async def from_ip(app: FastAPI) -> AsyncIterator[From]:
    """A browser at a given client address."""
    clients: list[httpx.AsyncClient] = []

    def make(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


async def guess(client: httpx.AsyncClient, token: str, password: str) -> int:
    return (await client.post(f"{SHARED}/{token}", json={"password": password})).status_code


@pytest.mark.parametrize(("password", "status"), [("1234567", 422), ("सात अक्षर", 201), ("12345678", 201)])
async def test_a_link_password_has_at_least_8_characters(owner: Person, password: str, status: int) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={"password": password})

    assert response.status_code == status, response.text
    assert len((await owner.client.get(f"{DOCS}/{doc['id']}/links")).json()) == (status == 201)


@pytest.mark.parametrize("settings", [{"link_failures_before_delay": 3}], indirect=True)
async def test_wrong_guesses_on_one_link_are_slowed_whatever_ip_they_come_from(
    throttle: AuthThrottle, owner: Person, from_ip: From
) -> None:
    doc = await create_doc(owner.client)
    link = await create_link(owner.client, doc["id"], password=PASSWORD)
    other = await create_link(owner.client, doc["id"], password=PASSWORD)

    guesses = [await guess(from_ip(f"203.0.113.{n}"), link["token"], f"guess {n}") for n in range(5)]
    rightful = await guess(from_ip("198.51.100.7"), link["token"], PASSWORD)

    assert guesses == [404, 404, 404, 429, 429]
    assert rightful == 429  # the link waits out its delay for everyone...
    assert await guess(from_ip("198.51.100.7"), other["token"], PASSWORD) == 200  # ...and only that link


@pytest.mark.parametrize(
    "settings", [{"link_failures_per_ip_per_minute": 5, "link_failures_before_delay": 100}], indirect=True
)
async def test_refused_opens_from_one_ip_are_limited_across_links_and_unknown_tokens(
    throttle: AuthThrottle, owner: Person, from_ip: From
) -> None:
    doc = await create_doc(owner.client)
    guarded = await create_link(owner.client, doc["id"], password=PASSWORD)
    open_link = await create_link(owner.client, doc["id"])
    prober = from_ip("203.0.113.9")

    refused = [(await prober.get(f"{SHARED}/unknown-{n}")).status_code for n in range(3)]
    refused += [await guess(prober, guarded["token"], "wrong one"), await guess(prober, guarded["token"], "wrong two")]
    blocked = [(await prober.get(f"{SHARED}/{open_link['token']}")).status_code, await guess(prober, "x" * 43, "y")]

    assert refused == [404] * 5
    assert blocked == [429, 429]  # before any look-up: even a live link
    assert (await from_ip("198.51.100.7").get(f"{SHARED}/{open_link['token']}")).status_code == 200


@pytest.mark.parametrize(
    "settings", [{"link_failures_before_delay": 2, "link_failures_per_ip_per_minute": 2}], indirect=True
)
async def test_successful_opens_are_never_counted(app: FastAPI, owner: Person, from_ip: From) -> None:
    doc = await upload(owner.client, png_bytes())
    guarded = await create_link(owner.client, doc["id"], password=PASSWORD)
    public = await create_link(owner.client, doc["id"])
    reader = from_ip("198.51.100.7")

    public_opens = [(await reader.get(f"{SHARED}/{public['token']}")).status_code for _ in range(70)]
    guarded_opens = [await guess(reader, guarded["token"], PASSWORD) for _ in range(6)]
    files = [
        (await reader.get(f"{SHARED}/{guarded['token']}/file", headers={"X-Share-Password": PASSWORD})).status_code
        for _ in range(3)
    ]

    assert public_opens == [200] * 70  # more than the 60 a minute one token used to allow
    assert guarded_opens == [200] * 6
    assert files == [200] * 3
    async with app.state.db.engine.connect() as conn:
        counts = dict((await conn.execute(select(ShareLink.token_hash, ShareLink.access_count))).all())
    assert sorted(counts.values()) == [9, 70]


@pytest.mark.parametrize("settings", [{"link_failures_before_delay": 2, "login_delay_base_seconds": 1}], indirect=True)
async def test_after_too_many_wrong_guesses_the_right_password_opens_the_link_once_the_delay_has_passed(
    owner: Person, from_ip: From
) -> None:
    doc = await create_doc(owner.client, title="Minutes")
    token = (await create_link(owner.client, doc["id"], password=PASSWORD))["token"]
    attacker, rightful = from_ip("203.0.113.9"), from_ip("198.51.100.7")
    assert [await guess(attacker, token, "guess") for _ in range(3)] == [404, 404, 429]

    async def opens() -> httpx.Response | None:
        response = await rightful.post(f"{SHARED}/{token}", json={"password": PASSWORD})
        assert response.status_code in (200, 429), response.text
        return response if response.status_code == 200 else None

    opened = await eventually(opens, within=30, what="the link to open once its delay has passed")

    assert opened.json()["title"] == "Minutes"
    assert await guess(attacker, token, "guess") == 404  # the right password cleared the count


async def test_a_nepali_password_opens_the_document_and_the_file(owner: Person, from_ip: From) -> None:
    content = png_bytes((48, 24))
    doc = await upload(owner.client, content)
    token = (await create_link(owner.client, doc["id"], password=NEPALI))["token"]
    reader = from_ip("198.51.100.7")
    form = {"content-type": "application/x-www-form-urlencoded"}

    file_by_json = await reader.post(f"{SHARED}/{token}/file", json={"password": NEPALI})
    file_by_form = await reader.post(f"{SHARED}/{token}/file", content=f"password={quote(NEPALI)}", headers=form)
    file_by_raw_form = await reader.post(f"{SHARED}/{token}/file", content=f"password={NEPALI}".encode(), headers=form)
    file_by_utf8_header = await reader.get(f"{SHARED}/{token}/file", headers={"X-Share-Password": NEPALI.encode()})
    page_by_form = await reader.post(f"{SHARED}/{token}", content=f"password={quote(NEPALI)}", headers=form)

    for response in (file_by_json, file_by_form, file_by_raw_form, file_by_utf8_header):
        assert response.status_code == 200, response.text
        assert response.content == content
        assert response.headers["content-type"] == "image/png"
    assert page_by_form.status_code == 200, page_by_form.text


async def test_the_file_by_post_refuses_wrong_missing_and_url_passwords(owner: Person, from_ip: From) -> None:
    doc = await upload(owner.client, png_bytes())
    token = (await create_link(owner.client, doc["id"], password=NEPALI))["token"]
    reader, url = from_ip("198.51.100.7"), f"{SHARED}/{token}/file"

    statuses = [
        (await reader.post(url)).status_code,
        (await reader.post(url, json={"password": None})).status_code,
        (await reader.post(url, json={"password": NEPALI + " "})).status_code,
        (await reader.post(url, params={"password": NEPALI})).status_code,
        (await reader.post(url, content=b"password", headers={"content-type": "text/plain"})).status_code,
        (await reader.post(url, json={"password": NEPALI, "extra": 1})).status_code,
    ]

    assert statuses == [404, 404, 404, 404, 415, 422]
