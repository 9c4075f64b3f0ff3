"""The documents API, as a user of it sees it: create, list, read, edit, replace, delete."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app import search
from app.core.security import SESSION_COOKIE
from app.crud import ocr as ocr_crud
from app.models import DocumentFile, OcrJob, OcrPage
from app.schemas.common import Page
from app.schemas.document import DocumentRead, DocumentSummary
from app.services import documents as document_service
from tests.conftest import ClientFactory
from tests.locks import lock_waits

DOCS = "/api/v1/documents"
MAX_CONTENT_BYTES = 5 * 1024 * 1024
KA = "क"  # 3 bytes of UTF-8
NEPALI = "नेपाल सरकार, आर्थिक वर्ष २०८१/८२"
MISSING_ID = "00000000-0000-4000-8000-000000000000"
# What JSON writers may escape differently: quotes, backslash, control characters, U+2028, emoji.
CONTROL_AND_QUOTES = 'पाठ\n\t"quoted" \\ back\x01\x1f\x7f \u2028 \U0001f600 </script>'


# `client` is signed in (as alice) in every test.
pytestmark = pytest.mark.usefixtures("alice")


async def create_doc(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(DOCS, json={"title": "Budget notes", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def get_doc(client: httpx.AsyncClient, doc_id: str) -> dict[str, Any]:
    response = await client.get(f"{DOCS}/{doc_id}")
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def assert_validation_error(response: httpx.Response) -> None:
    body = assert_error(response, 422, "validation_error")
    assert isinstance(body["errors"], list)
    assert body["errors"]


# --- create -------------------------------------------------------------------------------


async def test_create_returns_the_document_at_version_1(client: httpx.AsyncClient, alice: dict[str, Any]) -> None:
    response = await client.post(DOCS, json={"title": "Budget notes", "content": "Line one"})

    assert response.status_code == 201
    doc = response.json()
    assert set(doc) == {
        *("id", "title", "content", "owner_id", "version", "created_at", "updated_at", "file", "ocr"),
        *("created_by", "updated_by", "trashed_at", "role", "starred"),
    }
    assert doc["role"] == "owner" and doc["starred"] is False and doc["created_by"] == alice["id"]
    assert doc["file"] is None and doc["ocr"] is None
    assert doc["title"] == "Budget notes"
    assert doc["content"] == "Line one"
    assert doc["owner_id"] == alice["id"]
    assert doc["version"] == 1
    assert doc["created_at"] == doc["updated_at"]
    assert await get_doc(client, doc["id"]) == doc


async def test_create_without_content_makes_an_empty_document(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)

    assert doc["content"] == ""


async def test_devanagari_round_trips_exactly(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client, title=NEPALI, content=f"{NEPALI}\n{NEPALI}")

    stored = await get_doc(client, doc["id"])
    assert stored["title"] == NEPALI
    assert stored["content"] == f"{NEPALI}\n{NEPALI}"


@pytest.mark.parametrize("title", ["t" * 255, KA * 255], ids=["255-ascii", "255-devanagari"])
async def test_title_of_255_characters_is_accepted(client: httpx.AsyncClient, title: str) -> None:
    doc = await create_doc(client, title=title)

    assert (await get_doc(client, doc["id"]))["title"] == title


@pytest.mark.parametrize(
    "content",
    ["a" * MAX_CONTENT_BYTES, KA * (MAX_CONTENT_BYTES // 3) + "ab"],
    ids=["ascii", "devanagari"],
)
async def test_content_of_exactly_5_mib_is_accepted(client: httpx.AsyncClient, content: str) -> None:
    assert len(content.encode()) == MAX_CONTENT_BYTES

    doc = await create_doc(client, content=content)

    assert (await get_doc(client, doc["id"]))["content"] == content


@pytest.mark.parametrize(
    "content",
    ["a" * (MAX_CONTENT_BYTES + 1), KA * (MAX_CONTENT_BYTES // 3 + 1)],
    ids=["ascii", "devanagari-fewer-characters-than-bytes"],
)
async def test_content_over_5_mib_is_refused(client: httpx.AsyncClient, content: str) -> None:
    assert len(content.encode()) == MAX_CONTENT_BYTES + 1

    response = await client.post(DOCS, json={"title": "Too big", "content": content})

    assert_validation_error(response)
    assert (await client.get(DOCS)).json()["total"] == 0


BAD_CREATE_BODIES = {
    "title-missing": {"content": "x"},
    "title-null": {"title": None},
    "title-number": {"title": 123},
    "content-list": {"title": "ok", "content": []},
    "title-empty": {"title": ""},
    "title-whitespace": {"title": "   \t\n "},
    "title-256": {"title": "t" * 256},
    "title-256-devanagari": {"title": KA * 256},
    "title-nul": {"title": "bad\x00title"},
    "content-nul": {"title": "ok", "content": "bad\x00content"},
    "extra-owner_id": {"title": "ok", "owner_id": str(uuid.uuid4())},
    "extra-id": {"title": "ok", "id": str(uuid.uuid4())},
    "extra-created_at": {"title": "ok", "created_at": "2000-01-01T00:00:00Z"},
    "extra-version": {"title": "ok", "version": 7},
    "not-an-object": ["title", "ok"],
}


@pytest.mark.parametrize("body", BAD_CREATE_BODIES.values(), ids=BAD_CREATE_BODIES.keys())
async def test_bad_create_body_is_refused_and_creates_nothing(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post(DOCS, json=body)

    assert_validation_error(response)
    assert (await client.get(DOCS)).json()["total"] == 0


@pytest.mark.parametrize("raw", [b'{"title": "unterminated', b"title=x", b"\xff\xfe"], ids=str)
async def test_malformed_json_create_is_400_and_creates_nothing(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(DOCS, content=raw, headers={"content-type": "application/json"})

    assert_error(response, 400, "bad_request")
    assert (await client.get(DOCS)).json()["total"] == 0


async def test_an_empty_json_create_is_refused_and_creates_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(DOCS, content=b"", headers={"content-type": "application/json"})

    assert_validation_error(response)
    assert (await client.get(DOCS)).json()["total"] == 0


_REFUSE_CREATE_EVENT = {
    "postgresql": [
        "CREATE FUNCTION test_refuse_event() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
        " LANGUAGE plpgsql",
        "CREATE TRIGGER test_refuse_event BEFORE INSERT ON audit_events FOR EACH ROW"
        " WHEN (NEW.action = 'document.create') EXECUTE FUNCTION test_refuse_event()",
    ],
    "sqlite": [
        "CREATE TRIGGER test_refuse_event BEFORE INSERT ON audit_events WHEN NEW.action = 'document.create'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END",
    ],
}
_ALLOW_CREATE_EVENT = {
    "postgresql": ["DROP TRIGGER test_refuse_event ON audit_events", "DROP FUNCTION test_refuse_event()"],
    "sqlite": ["DROP TRIGGER test_refuse_event"],
}


async def _run_sql(app: FastAPI, statements: dict[str, list[str]]) -> None:
    async with app.state.db.engine.begin() as conn:
        for statement in statements[conn.dialect.name]:
            await conn.execute(sa.text(statement))


async def test_a_create_that_fails_at_its_last_write_leaves_nothing_behind(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The document, its first version, its search entry and its audit event are one write: when
    the event cannot be written, none of the others is there either."""
    await _run_sql(app, _REFUSE_CREATE_EVENT)
    try:
        response = await client.post(DOCS, json={"title": "Half written", "content": "काठमाडौं"})
    finally:
        await _run_sql(app, _ALLOW_CREATE_EVENT)

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert (await client.get(DOCS)).json()["total"] == 0
    assert (await client.get("/api/v1/search", params={"q": "काठमाडौं"})).json()["total"] == 0
    async with app.state.db.engine.connect() as conn:
        for table, count in _COUNT_CREATED.items():
            assert await conn.scalar(sa.text(count)) == 0, table
    # The same request once the event can be written: everything is there.
    created = await create_doc(client, title="Half written", content="काठमाडौं")
    assert (await client.get("/api/v1/search", params={"q": "काठमाडौंमा"})).json()["total"] == 1
    versions = (await client.get(f"{DOCS}/{created['id']}/versions")).json()
    assert [v["version"] for v in versions] == [1]


_COUNT_CREATED = {
    "documents": "SELECT count(*) FROM documents",
    "document_versions": "SELECT count(*) FROM document_versions",
    "search_documents": "SELECT count(*) FROM search_documents",
    "audit_events": "SELECT count(*) FROM audit_events WHERE action = 'document.create'",
}


LONE_SURROGATE_BODIES = {
    "title": b'{"title": "bad \\ud800 title"}',
    "content": b'{"title": "ok", "content": "bad \\udfff content"}',
}


@pytest.mark.parametrize("raw", LONE_SURROGATE_BODIES.values(), ids=LONE_SURROGATE_BODIES.keys())
async def test_text_that_is_not_valid_unicode_is_refused(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(DOCS, content=raw, headers={"content-type": "application/json"})

    assert_validation_error(response)
    assert (await client.get(DOCS)).json()["total"] == 0


# --- list ---------------------------------------------------------------------------------


async def test_list_is_empty_for_a_new_user_with_default_paging(client: httpx.AsyncClient) -> None:
    response = await client.get(DOCS)

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_list_items_are_summaries_without_content(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client, content="secret body")

    [item] = (await client.get(DOCS)).json()["items"]

    assert "content" not in item
    assert item == {key: value for key, value in doc.items() if key not in ("content", "file", "ocr")}
    assert item["role"] == "owner"


async def test_list_body_is_exactly_what_its_response_model_serializes(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient
) -> None:
    """The list is written straight from rows (app.api.responses): byte for byte what FastAPI's
    response model would give, for owned, shared, starred, edited and trashed documents."""
    mine = await create_doc(client, title=NEPALI, content="x")
    await client.patch(f"{DOCS}/{mine['id']}", json={"title": "Budget 2081/82"})
    assert (await client.put(f"{DOCS}/{mine['id']}/star")).status_code == 204
    gone = await create_doc(client, title="old")
    assert (await client.delete(f"{DOCS}/{gone['id']}")).status_code == 204
    bobs = await create_doc(bob_client, title="Bob's")
    me = (await client.get("/api/v1/auth/me")).json()["user"]
    shared = await bob_client.post(f"{DOCS}/{bobs['id']}/shares", json={"email": me["email"], "role": "editor"})
    assert shared.status_code == 201, shared.text
    page_model = Page[DocumentSummary]

    for params in ({}, {"scope": "shared"}, {"starred": "true"}, {"trashed": "true"}, {"limit": 1, "offset": 1}):
        response = await client.get(DOCS, params=params)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["items"], params
        assert response.content == page_model.model_validate_json(response.content).model_dump_json().encode()
    roles = {item["title"]: item["role"] for item in (await client.get(DOCS)).json()["items"]}
    assert roles == {"Budget 2081/82": "owner", "Bob's": "editor"}


async def test_read_body_is_exactly_what_its_response_model_serializes(
    app: FastAPI, client: httpx.AsyncClient, bob_client: httpx.AsyncClient
) -> None:
    """A document read is written straight from its row (app.api.responses): byte for byte what
    DocumentRead serializes to, with and without a file and OCR job, shared, starred, trashed."""
    plain = await create_doc(client, title=NEPALI, content=CONTROL_AND_QUOTES)
    scanned = await create_doc(client, title="scan")
    async with app.state.db.unit_of_work() as session:
        document_id = uuid.UUID(scanned["id"])
        session.add(
            DocumentFile(
                document_id=document_id,
                storage_key=f"test/{document_id}",
                filename="स्क्यान.png",
                size=1234,
                content_type="image/png",
                sha256="ab" * 32,
            )
        )
        session.add(
            OcrJob(
                document_id=document_id,
                status="processing",
                languages="nep+eng",
                base_version=1,
                attempts=1,
                pages_total=3,
                started_at=datetime.now(UTC),
            )
        )
    assert (await client.put(f"{DOCS}/{plain['id']}/star")).status_code == 204
    bobs = await create_doc(bob_client, title="Bob's")
    me = (await client.get("/api/v1/auth/me")).json()["user"]
    shared = await bob_client.post(f"{DOCS}/{bobs['id']}/shares", json={"email": me["email"], "role": "viewer"})
    assert shared.status_code == 201, shared.text
    trashed = await create_doc(client, title="old")
    assert (await client.delete(f"{DOCS}/{trashed['id']}")).status_code == 204

    bodies = {}
    for doc in (plain, scanned, bobs, trashed):
        response = await client.get(f"{DOCS}/{doc['id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
        assert response.content == DocumentRead.model_validate_json(response.content).model_dump_json().encode()
        bodies[doc["title"]] = response.json()
    assert bodies["scan"]["file"]["filename"] == "स्क्यान.png"
    assert bodies["scan"]["ocr"]["status"] == "processing" and bodies["scan"]["ocr"]["pages_total"] == 3
    assert bodies[NEPALI]["file"] is None and bodies[NEPALI]["starred"] is True
    assert bodies[NEPALI]["content"] == CONTROL_AND_QUOTES
    assert bodies["Bob's"]["role"] == "viewer"
    assert bodies["old"]["trashed_at"] is not None


async def test_list_shows_only_the_callers_documents(client: httpx.AsyncClient, bob_client: httpx.AsyncClient) -> None:
    mine = await create_doc(client, title="Alice's")
    await create_doc(bob_client, title="Bob's")

    page = (await client.get(DOCS)).json()

    assert [item["id"] for item in page["items"]] == [mine["id"]]
    assert page["total"] == 1


@pytest.mark.usefixtures("ticking_clock")
async def test_list_pages_with_limit_and_offset(client: httpx.AsyncClient) -> None:
    first, second, third = [await create_doc(client, title=title) for title in ("one", "two", "three")]

    page_one = (await client.get(DOCS, params={"limit": 2})).json()
    page_two = (await client.get(DOCS, params={"limit": 2, "offset": 2})).json()

    assert [item["id"] for item in page_one["items"]] == [third["id"], second["id"]]
    assert (page_one["total"], page_one["limit"], page_one["offset"]) == (3, 2, 0)
    assert [item["id"] for item in page_two["items"]] == [first["id"]]
    assert (page_two["total"], page_two["limit"], page_two["offset"]) == (3, 2, 2)


@pytest.mark.usefixtures("ticking_clock")
async def test_list_puts_the_most_recently_updated_first(client: httpx.AsyncClient) -> None:
    oldest, middle, newest = [await create_doc(client, title=title) for title in ("one", "two", "three")]

    response = await client.patch(f"{DOCS}/{oldest['id']}", json={"content": "touched"})
    assert response.status_code == 200

    items = (await client.get(DOCS)).json()["items"]
    assert [item["id"] for item in items] == [oldest["id"], newest["id"], middle["id"]]


async def test_list_offset_past_the_end_is_an_empty_page(client: httpx.AsyncClient) -> None:
    await create_doc(client)

    page = (await client.get(DOCS, params={"offset": 5})).json()

    assert page["items"] == []
    assert page["total"] == 1


@pytest.mark.parametrize("offset", [2**31 - 100, 2**31 - 1])
async def test_list_offset_at_the_largest_allowed_value_is_an_empty_page(
    client: httpx.AsyncClient, offset: int
) -> None:
    await create_doc(client)

    response = await client.get(DOCS, params={"offset": offset, "limit": 100})

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "total": 1, "limit": 100, "offset": offset}


@pytest.mark.parametrize("limit", [1, 100])
async def test_list_accepts_limit_at_its_bounds(client: httpx.AsyncClient, limit: int) -> None:
    response = await client.get(DOCS, params={"limit": limit})

    assert response.status_code == 200
    assert response.json()["limit"] == limit


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "abc"},
        {"limit": 10**20},
        {"offset": -1},
        {"offset": "x"},
        {"offset": 10**20},
    ],
    ids=str,
)
async def test_list_refuses_bad_paging(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert_validation_error(await client.get(DOCS, params=params))


# --- read ---------------------------------------------------------------------------------


async def test_get_carries_the_version_as_etag(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)
    await client.patch(f"{DOCS}/{doc['id']}", json={"title": "Renamed"})

    response = await client.get(f"{DOCS}/{doc['id']}")

    assert response.headers["etag"] == '"2"'
    assert response.json()["version"] == 2


# --- edit ---------------------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client, title="Old", content="Body stays")

    response = await client.patch(f"{DOCS}/{doc['id']}", json={"title": "New"})

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    updated = response.json()
    assert (updated["title"], updated["content"], updated["version"]) == ("New", "Body stays", 2)
    assert await get_doc(client, doc["id"]) == updated


async def test_every_change_increments_the_version(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)
    url = f"{DOCS}/{doc['id']}"

    versions = [
        (await client.patch(url, json={"title": "Second"})).json()["version"],
        (await client.patch(url, json={"content": "Third"})).json()["version"],
        (await client.put(url, json={"title": "Fourth"})).json()["version"],
    ]

    assert versions == [2, 3, 4]


@pytest.mark.parametrize(
    "body",
    [{}, {"title": "Same"}, {"title": "  Same  "}, {"content": "Same body"}, {"title": "Same", "version": 1}],
    ids=["empty", "same-title", "same-title-padded", "same-content", "same-with-version"],
)
async def test_patch_that_changes_nothing_keeps_the_version(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    doc = await create_doc(client, title="Same", content="Same body")

    response = await client.patch(f"{DOCS}/{doc['id']}", json=body)

    assert response.status_code == 200
    assert response.json() == doc
    assert await get_doc(client, doc["id"]) == doc


async def test_put_replaces_title_and_empties_omitted_content(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client, title="Old", content="Old body")

    response = await client.put(f"{DOCS}/{doc['id']}", json={"title": "New"})

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    assert (response.json()["title"], response.json()["content"], response.json()["version"]) == ("New", "", 2)
    assert await get_doc(client, doc["id"]) == response.json()


async def test_put_without_a_title_is_refused(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)

    assert_validation_error(await client.put(f"{DOCS}/{doc['id']}", json={"content": "only content"}))
    assert await get_doc(client, doc["id"]) == doc


BAD_EDIT_BODIES = {
    "title-null-put": ("PUT", {"title": None}),
    "title-number": ("PATCH", {"title": 123}),
    "content-list": ("PATCH", {"content": []}),
    "title-empty": ("PATCH", {"title": ""}),
    "title-whitespace": ("PATCH", {"title": "   "}),
    "title-256": ("PATCH", {"title": "t" * 256}),
    "title-nul": ("PATCH", {"title": "a\x00b"}),
    "content-nul": ("PATCH", {"content": "a\x00b"}),
    "content-over-5-mib": ("PATCH", {"content": KA * (MAX_CONTENT_BYTES // 3 + 1)}),
    "version-zero": ("PATCH", {"title": "x", "version": 0}),
    "version-text": ("PATCH", {"title": "x", "version": "abc"}),
    "version-past-int32": ("PATCH", {"title": "x", "version": 2**31}),
    "version-huge": ("PUT", {"title": "x", "version": 10**20}),
    "extra-owner_id": ("PATCH", {"owner_id": str(uuid.uuid4())}),
    "extra-id": ("PUT", {"title": "x", "id": str(uuid.uuid4())}),
    "extra-updated_at": ("PATCH", {"updated_at": "2000-01-01T00:00:00Z"}),
    "title-empty-put": ("PUT", {"title": ""}),
    "content-nul-put": ("PUT", {"title": "x", "content": "\x00"}),
}


@pytest.mark.parametrize(("method", "body"), BAD_EDIT_BODIES.values(), ids=BAD_EDIT_BODIES.keys())
async def test_bad_edit_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, method: str, body: dict[str, Any]
) -> None:
    doc = await create_doc(client)

    response = await client.request(method, f"{DOCS}/{doc['id']}", json=body)

    assert_validation_error(response)
    assert await get_doc(client, doc["id"]) == doc


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_malformed_json_edit_is_400_and_changes_nothing(client: httpx.AsyncClient, method: str) -> None:
    doc = await create_doc(client)

    response = await client.request(
        method, f"{DOCS}/{doc['id']}", content=b'{"title": ', headers={"content-type": "application/json"}
    )

    assert_error(response, 400, "bad_request")
    assert await get_doc(client, doc["id"]) == doc


# --- optimistic concurrency ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "naming"),
    [("PATCH", "body"), ("PATCH", "if-match"), ("PATCH", "weak-if-match"), ("PUT", "body"), ("PUT", "if-match")],
)
async def test_naming_the_current_version_succeeds(client: httpx.AsyncClient, method: str, naming: str) -> None:
    doc = await create_doc(client)
    body: dict[str, Any] = {"title": "Edited"}
    headers = {}
    if naming == "body":
        body["version"] = 1
    else:
        headers["if-match"] = 'W/"1"' if naming == "weak-if-match" else '"1"'

    response = await client.request(method, f"{DOCS}/{doc['id']}", json=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert response.json()["title"] == "Edited"


@pytest.mark.parametrize(
    ("method", "naming"),
    [("PATCH", "body"), ("PATCH", "if-match"), ("PUT", "body"), ("PUT", "if-match"), ("PATCH", "body-and-if-match")],
)
async def test_naming_a_stale_version_gets_409_and_changes_nothing(
    client: httpx.AsyncClient, method: str, naming: str
) -> None:
    doc = await create_doc(client)
    url = f"{DOCS}/{doc['id']}"
    current = (await client.patch(url, json={"title": "Someone else's edit"})).json()
    body: dict[str, Any] = {"title": "My stale edit"}
    headers = {}
    if naming == "body":
        body["version"] = 1
    elif naming == "if-match":
        headers["if-match"] = '"1"'
    else:  # the body names the current version, the header a stale one: both must hold
        body["version"] = 2
        headers["if-match"] = '"1"'

    response = await client.request(method, url, json=body, headers=headers)

    conflict = assert_error(response, 409, "version_conflict")
    assert conflict["current_version"] == 2
    assert await get_doc(client, doc["id"]) == current


async def test_stale_version_conflicts_even_when_nothing_would_change(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client, title="Same")
    url = f"{DOCS}/{doc['id']}"
    await client.patch(url, json={"content": "moved on"})

    response = await client.patch(url, json={"title": "Same", "version": 1})

    assert assert_error(response, 409, "version_conflict")["current_version"] == 2


BAD_IF_MATCH = {
    "bare-word": "abc",
    "quoted-word": '"abc"',
    "negative": '"-1"',
    "decimal": '"1.0"',
    "empty": "",
    "superscript-two": b'"\xb2"',  # "²" in Latin-1: str.isdigit() says yes, int() says no
}


@pytest.mark.parametrize("if_match", BAD_IF_MATCH.values(), ids=BAD_IF_MATCH.keys())
async def test_if_match_that_is_not_a_version_is_refused(client: httpx.AsyncClient, if_match: str | bytes) -> None:
    doc = await create_doc(client)

    response = await client.patch(f"{DOCS}/{doc['id']}", json={"title": "Edited"}, headers={"if-match": if_match})

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str)
    assert isinstance(response.json()["code"], str)
    assert await get_doc(client, doc["id"]) == doc


async def test_of_concurrent_edits_naming_one_version_exactly_one_wins(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)
    url = f"{DOCS}/{doc['id']}"
    titles = [f"Edit {n}" for n in range(8)]

    responses = await asyncio.gather(*(client.patch(url, json={"title": t, "version": 1}) for t in titles))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7, [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    for loser in (r for r in responses if r.status_code == 409):
        assert loser.json()["code"] == "version_conflict"
        assert loser.json()["current_version"] == 2
    stored = await get_doc(client, doc["id"])
    assert stored["version"] == 2
    assert stored["title"] == winner["title"]


@pytest.mark.parametrize("attempts", [3, 1], ids=["optimistic", "then-locking"])
async def test_concurrent_edits_naming_no_version_are_all_kept(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    """Last writer wins, but no edit is lost: each one is a version of its own, with its event,
    and the search index holds the content that won. (On PostgreSQL an edit is first tried at the
    version read; after `attempts` lost races it takes the row lock.)"""
    monkeypatch.setattr(document_service, "_EDIT_ATTEMPTS", attempts)
    doc = await create_doc(client, content="शुरु")
    url = f"{DOCS}/{doc['id']}"
    words = ["पहिलो", "दोस्रो", "तेस्रो", "चौथो", "पाँचौं", "छैटौं"]

    responses = await asyncio.gather(*(client.patch(url, json={"content": word}) for word in words))

    assert [r.status_code for r in responses] == [200] * len(words), [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 2 + len(words)))
    stored = await get_doc(client, doc["id"])
    assert stored["version"] == 1 + len(words)
    versions = (await client.get(f"{url}/versions")).json()
    assert sorted(v["version"] for v in versions) == list(range(1, 2 + len(words)))
    assert {r.json()["content"] for r in responses} == set(words)
    search = "/api/v1/search"
    for word in words:
        hits = (await client.get(search, params={"q": word})).json()["total"]
        assert hits == (1 if word == stored["content"] else 0), word
    events = (await client.get(f"{url}/activity")).json()["items"]
    assert sum(event["action"] == "document.update" for event in events) == len(words)


async def test_an_edit_saved_while_ocr_reindexes_the_document_is_what_search_finds(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OCR job re-indexes a document when its text arrives (reading the row, then writing the
    index row). An edit saved between that read and that write must not be overwritten in the
    index by the text read before it: the re-index holds the row until it commits, and the edit
    waits for it, then indexes its own content."""
    doc = await create_doc(client, content="पुरानो राजस्व")
    edits: list[asyncio.Task[httpx.Response]] = []
    real_index = search.index_document

    async def index_while_an_edit_is_saved(session: Any, **row: Any) -> None:
        if not edits:  # the OCR job's re-index: the user saves an edit now (given a second to finish)
            edits.append(asyncio.create_task(client.patch(f"{DOCS}/{doc['id']}", json={"content": "नयाँ बजेट"})))
            await asyncio.wait(edits, timeout=1.0)
        await real_index(session, **row)

    monkeypatch.setattr(search, "index_document", index_while_an_edit_is_saved)
    async with app.state.db.unit_of_work() as session:  # as app.services.ocr_pipeline does when done
        await search.reindex_document(session, document_id=uuid.UUID(doc["id"]))
    edited = await edits[0]

    assert edited.status_code == 200, edited.text
    assert (await get_doc(client, doc["id"]))["content"] == "नयाँ बजेट"
    found = {q: (await client.get("/api/v1/search", params={"q": q})).json()["total"] for q in ("बजेट", "राजस्व")}
    assert found == {"बजेट": 1, "राजस्व": 0}


@pytest.mark.parametrize("edited", [False, True], ids=["ocr-text-replaces-content", "user-edited-meanwhile"])
async def test_a_permanent_delete_while_ocr_finishes_is_not_a_deadlock(
    app: FastAPI, client: httpx.AsyncClient, edited: bool
) -> None:
    """The OCR job finishes in one transaction (job row, content, index); the owner deletes the
    document for good meanwhile. Both lock the document's row before the job's, so the delete
    waits and then succeeds: neither is refused as a deadlock."""
    doc = await create_doc(client, content="पुरानो")
    document_id = uuid.UUID(doc["id"])
    db = app.state.db
    async with db.unit_of_work() as session:
        session.add(
            OcrJob(document_id=document_id, status="processing", languages="nep", base_version=1, attempts=1, claims=1)
        )
        session.add(
            OcrPage(
                document_id=document_id,
                number=1,
                text="नयाँ",
                confidence=90.0,
                source="ocr",
                engine="t",
                languages="nep",
                created_at=datetime.now(UTC),
            )
        )
    if edited:
        assert (await client.patch(f"{DOCS}/{doc['id']}", json={"content": "मेरो"})).status_code == 200
    job = ocr_crud.ClaimedJob(
        document_id=document_id,
        generation=1,
        languages="nep",
        attempts=1,
        claims=1,
        crashes=0,
        pages_done=0,
        storage_key="key",
        content_type="image/png",
    )
    finished = asyncio.Event()

    async with lock_waits(db) as until_blocked:

        async def finish_ocr() -> None:  # as app.services.ocr_pipeline does when the last page is read
            async with db.unit_of_work() as session:
                assert await ocr_crud.finish_job(session=session, job=job, now=datetime.now(UTC))
                finished.set()
                await until_blocked()  # the delete arrives now, and waits for this transaction
                await search.reindex_document(session, document_id=document_id)

        async def delete() -> httpx.Response:
            await finished.wait()
            return await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})

        _, deleted = await asyncio.wait_for(asyncio.gather(finish_ocr(), delete()), timeout=60)

    assert deleted.status_code == 204, deleted.text
    assert (await client.get(f"{DOCS}/{doc['id']}")).status_code == 404


# --- delete -------------------------------------------------------------------------------


async def test_delete_moves_the_document_to_the_trash(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)

    response = await client.delete(f"{DOCS}/{doc['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(DOCS)).json()["total"] == 0
    trash = (await client.get(DOCS, params={"trashed": "true"})).json()
    assert [item["id"] for item in trash["items"]] == [doc["id"]]
    assert trash["items"][0]["trashed_at"] is not None


async def test_permanent_delete_removes_the_document(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)

    response = await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})

    assert response.status_code == 204
    assert_error(await client.get(f"{DOCS}/{doc['id']}"), 404, "not_found")
    assert (await client.get(DOCS, params={"trashed": "true"})).json()["total"] == 0


async def test_trashing_twice_is_a_conflict_and_purging_twice_404(client: httpx.AsyncClient) -> None:
    doc = await create_doc(client)
    await client.delete(f"{DOCS}/{doc['id']}")

    assert_error(await client.delete(f"{DOCS}/{doc['id']}"), 409, "document_trashed")
    await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})
    assert_error(await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"}), 404, "not_found")


# --- who may see what ---------------------------------------------------------------------

ITEM_REQUESTS = {
    "GET": {},
    "PATCH": {"json": {"title": "Hijacked"}},
    "PUT": {"json": {"title": "Hijacked", "content": ""}},
    "DELETE": {},
}


@pytest.mark.parametrize(("method", "kwargs"), ITEM_REQUESTS.items(), ids=ITEM_REQUESTS.keys())
async def test_stranger_gets_404_for_anothers_document(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient, method: str, kwargs: dict[str, Any]
) -> None:
    doc = await create_doc(client, title="Alice's", content="private")

    response = await bob_client.request(method, f"{DOCS}/{doc['id']}", **kwargs)
    missing = await bob_client.request(method, f"{DOCS}/{MISSING_ID}", **kwargs)

    assert_error(response, 404, "not_found")
    assert response.json() == missing.json()  # indistinguishable from a document that does not exist
    assert await get_doc(client, doc["id"]) == doc


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_stranger_naming_the_version_still_gets_404(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient, method: str
) -> None:
    doc = await create_doc(client)

    response = await bob_client.request(method, f"{DOCS}/{doc['id']}", json={"title": "Hijacked", "version": 7})

    assert_error(response, 404, "not_found")
    assert await get_doc(client, doc["id"]) == doc


@pytest.mark.parametrize("doc_id", [MISSING_ID, "not-a-uuid", "1"])
@pytest.mark.parametrize(("method", "kwargs"), ITEM_REQUESTS.items(), ids=ITEM_REQUESTS.keys())
async def test_missing_or_malformed_id_gets_404(
    client: httpx.AsyncClient, method: str, kwargs: dict[str, Any], doc_id: str
) -> None:
    response = await client.request(method, f"{DOCS}/{doc_id}", **kwargs)

    assert_error(response, 404, "not_found")


ALL_REQUESTS = {
    "create": ("POST", "", {"json": {"title": "Mine now"}}),
    "list": ("GET", "", {}),
    "read": ("GET", "/{id}", {}),
    "patch": ("PATCH", "/{id}", {"json": {"title": "Hijacked"}}),
    "put": ("PUT", "/{id}", {"json": {"title": "Hijacked"}}),
    "delete": ("DELETE", "/{id}", {}),
}


@pytest.mark.parametrize("cookie", [None, "forged-token"], ids=["no-cookie", "forged-cookie"])
@pytest.mark.parametrize(("method", "path", "kwargs"), ALL_REQUESTS.values(), ids=ALL_REQUESTS.keys())
async def test_without_a_session_every_endpoint_gets_401(
    client: httpx.AsyncClient,
    new_client: ClientFactory,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    cookie: str | None,
) -> None:
    doc = await create_doc(client)
    anonymous: httpx.AsyncClient = new_client()
    if cookie is not None:
        anonymous.cookies.set(SESSION_COOKIE, cookie)

    response = await anonymous.request(method, DOCS + path.format(id=doc["id"]), **kwargs)

    assert_error(response, 401, "not_authenticated")
    assert response.headers["content-type"].startswith("application/json")
    assert await get_doc(client, doc["id"]) == doc
    assert (await client.get(DOCS)).json()["total"] == 1
