"""GET /api/v1/search: what a signed-in user finds, and what they never see."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app import search as search_engine
from app.models import DocumentShare
from tests.conftest import ClientFactory, SignUp

SEARCH = "/api/v1/search"
DOCS = "/api/v1/documents"

pytestmark = pytest.mark.usefixtures("alice")


async def create(client: httpx.AsyncClient, title: str, content: str = "") -> dict:
    response = await client.post(DOCS, json={"title": title, "content": content})
    assert response.status_code == 201
    return response.json()


async def found(client: httpx.AsyncClient, q: str) -> list[str]:
    response = await client.get(SEARCH, params={"q": q})
    assert response.status_code == 200, response.text
    return [item["document"]["id"] for item in response.json()["items"]]


async def test_a_nepali_word_finds_its_inflected_forms_with_a_marked_snippet(client: httpx.AsyncClient) -> None:
    doc = await create(client, "सूचना", "प्रधानमन्त्रीले आज काठमाडौंमा भाषण गर्नुभयो।")

    response = await client.get(SEARCH, params={"q": "काठमाडौं"})

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1 and body["limit"] == 20 and body["offset"] == 0
    (item,) = body["items"]
    assert item["document"] == {"id": doc["id"], "title": "सूचना", "updated_at": doc["updated_at"], "role": "owner"}
    assert "<mark>काठमाडौंमा</mark>" in item["snippet"]
    assert item["page"] is None and item["rank"] > 0


async def test_words_that_differ_only_in_a_vowel_sign_do_not_match(client: httpx.AsyncClient) -> None:
    await create(client, "टिप्पणी", "म पनि आउँछु।")

    assert await found(client, "पानी") == []
    assert len(await found(client, "पनि")) == 1


async def test_title_matches_rank_above_body_matches(client: httpx.AsyncClient) -> None:
    in_body = await create(client, "Notes", "the budget for the year")
    in_title = await create(client, "Budget 2081/82", "numbers")

    assert await found(client, "budget") == [in_title["id"], in_body["id"]]


async def test_another_users_documents_never_appear(client: httpx.AsyncClient, bob_client: httpx.AsyncClient) -> None:
    await create(bob_client, "गोप्य", "बबको गोप्य कागज")

    assert await found(client, "गोप्य") == []


async def test_shared_documents_appear_with_the_callers_role(
    client: httpx.AsyncClient, new_client: ClientFactory, sign_up: SignUp
) -> None:
    bob = new_client()
    bob_user = await sign_up(bob)
    doc = await create(client, "साझा", "हाम्रो साझा योजना")
    await client.post(f"{DOCS}/{doc['id']}/shares", json={"email": bob_user["email"], "role": "viewer"})

    response = await bob.get(SEARCH, params={"q": "योजना"})

    assert [item["document"]["role"] for item in response.json()["items"]] == ["viewer"]


async def test_a_document_unshared_while_the_search_runs_is_left_out(
    client: httpx.AsyncClient, new_client: ClientFactory, sign_up: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = new_client()
    bob_user = await sign_up(bob)
    shared = await create(client, "साझा", "हाम्रो साझा योजना")
    await client.post(f"{DOCS}/{shared['id']}/shares", json={"email": bob_user["email"], "role": "viewer"})
    own = await create(bob, "मेरो", "बबको आफ्नै योजना")
    search = search_engine.search

    async def search_then_unshare(session: AsyncSession, **options: Any) -> search_engine.SearchPage:
        # The share goes between the search and the look-up of each hit's role.
        page = await search(session, **options)
        await session.execute(delete(DocumentShare).where(DocumentShare.document_id == uuid.UUID(shared["id"])))
        return page

    monkeypatch.setattr(search_engine, "search", search_then_unshare)
    response = await bob.get(SEARCH, params={"q": "योजना"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["document"]["id"] for item in body["items"]] == [own["id"]]
    assert body["total"] == 1


async def test_trashed_documents_do_not_appear(client: httpx.AsyncClient) -> None:
    doc = await create(client, "पुरानो", "पुरानो कागज")
    await client.delete(f"{DOCS}/{doc['id']}")

    assert await found(client, "कागज") == []


async def test_an_edit_is_searchable_at_once(client: httpx.AsyncClient) -> None:
    doc = await create(client, "मस्यौदा", "पहिलो")
    await client.patch(f"{DOCS}/{doc['id']}", json={"content": "दोस्रो संस्करण"})

    assert await found(client, "संस्करण") == [doc["id"]]
    assert await found(client, "पहिलो") == []


async def test_snippets_are_escaped_except_the_marks(client: httpx.AsyncClient) -> None:
    await create(client, "html", "<script>alert(1)</script> नेपाल")

    (item,) = (await client.get(SEARCH, params={"q": "नेपाल"})).json()["items"]

    assert "<script>" not in item["snippet"]
    assert "&lt;script&gt;" in item["snippet"]
    assert "<mark>नेपाल</mark>" in item["snippet"]


async def test_search_needs_a_session(new_client: ClientFactory) -> None:
    response = await new_client().get(SEARCH, params={"q": "नेपाल"})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "q",
    [
        "%",
        "_",
        "\\",
        '"',
        '"unbalanced',
        "\x00",
        "x" * 10_000,
        "ा",
        "*",
        "-",
        "NEAR",
        "a OR b",
        "'; DROP TABLE documents;",
    ],
)
async def test_hostile_queries_are_200_or_422_never_500(client: httpx.AsyncClient, q: str) -> None:
    await create(client, "safe", "content")

    response = await client.get(SEARCH, params={"q": q})

    assert response.status_code in (200, 422), response.text
    assert isinstance(response.json().get("detail", ""), str)


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "limit": 101}, {"q": "x", "offset": -1}]
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, params: dict) -> None:
    assert (await client.get(SEARCH, params=params)).status_code == 422
