"""Sharing as its users see it: members and roles, the document list, recents, versions, trash,
duplicates and public links. Time comes from an injected clock: no test sleeps."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import (
    AuditEvent,
    Document,
    DocumentFile,
    DocumentRecent,
    DocumentShare,
    DocumentStar,
    DocumentVersion,
    ShareLink,
)
from app.ocr import OcrEngine
from app.services.trash import purge_expired_trash
from tests.clocks import T0, TickingClock
from tests.conftest import ClientFactory, Person, SignUp, sign_up_as, unique_email
from tests.sharing_world import (
    API,
    DOCS,
    audit_rows,
    create_doc,
    create_link,
    png_bytes,
    run_ocr,
    share,
    shared_document,
    stored_objects,
    text_png,
    upload,
)

SHARED = f"{API}/shared"


# The clock is set before anyone signs up, so sessions and documents share one timeline.
pytestmark = pytest.mark.usefixtures("ticking_clock")


@pytest.fixture
async def editor(new_client: ClientFactory, sign_up: SignUp) -> Person:
    return await sign_up_as(new_client, sign_up, "editor")


@pytest.fixture
async def viewer(new_client: ClientFactory, sign_up: SignUp) -> Person:
    return await sign_up_as(new_client, sign_up, "viewer")


@pytest.fixture
async def stranger(new_client: ClientFactory, sign_up: SignUp) -> Person:
    return await sign_up_as(new_client, sign_up, "stranger")


@pytest.fixture
def anonymous(new_client: ClientFactory) -> httpx.AsyncClient:
    return new_client()


async def rows_for(app: FastAPI, model: Any, doc_id: str) -> int:
    async with app.state.db.engine.connect() as conn:
        stmt = select(func.count()).select_from(model).where(model.document_id == uuid.UUID(doc_id))
        return await conn.scalar(stmt)


async def titles(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(DOCS, params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def roles_in_list(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get(DOCS)
    assert response.status_code == 200, response.text
    return {item["title"]: item["role"] for item in response.json()["items"]}


async def members(client: httpx.AsyncClient, doc_id: str) -> list[tuple[str, str]]:
    response = await client.get(f"{DOCS}/{doc_id}/shares")
    assert response.status_code == 200, response.text
    return [(member["email"], member["role"]) for member in response.json()]


# --- members ------------------------------------------------------------------------------------


async def test_owner_shares_by_email_and_the_members_are_listed_with_roles(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/shares", json={"email": editor.email, "role": "editor"})
    await share(owner.client, doc["id"], viewer.email, "viewer")

    assert response.status_code == 201
    assert response.json() == {
        "user_id": editor.id,
        "email": editor.email,
        "full_name": None,
        "role": "editor",
    }
    listed = await members(owner.client, doc["id"])
    assert listed[0] == (owner.email, "owner")
    assert sorted(listed[1:]) == sorted([(editor.email, "editor"), (viewer.email, "viewer")])


async def test_sharing_finds_the_account_whatever_the_case_of_the_email(owner: Person, viewer: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(
        f"{DOCS}/{doc['id']}/shares", json={"email": viewer.email.upper(), "role": "viewer"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == viewer.id


BAD_SHARES = {
    "role owner": {"role": "owner"},
    "role admin": {"role": "admin"},
    "role capitalised": {"role": "Editor"},
    "role empty": {"role": ""},
    "role null": {"role": None},
    "no role": {},
    "no email": {"role": "viewer", "email": None},
    "bad email": {"role": "viewer", "email": "not-an-email"},
    "extra field": {"role": "viewer", "user_id": "00000000-0000-4000-8000-000000000000"},
}


async def test_share_with_bad_input_is_422_and_adds_nobody(owner: Person, viewer: Person) -> None:
    doc = await create_doc(owner.client)
    url = f"{DOCS}/{doc['id']}/shares"

    statuses = {}
    for name, body in BAD_SHARES.items():
        statuses[name] = (await owner.client.post(url, json={"email": viewer.email, **body})).status_code

    assert statuses == dict.fromkeys(BAD_SHARES, 422)
    assert await members(owner.client, doc["id"]) == [(owner.email, "owner")]


async def test_sharing_with_yourself_is_422(owner: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/shares", json={"email": owner.email, "role": "editor"})

    assert response.status_code == 422
    assert await members(owner.client, doc["id"]) == [(owner.email, "owner")]


async def test_sharing_with_an_email_that_has_no_account_is_404(owner: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(
        f"{DOCS}/{doc['id']}/shares", json={"email": unique_email("nobody"), "role": "viewer"}
    )

    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"


async def test_sharing_twice_with_the_same_person_is_409(owner: Person, viewer: Person) -> None:
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], viewer.email, "viewer")

    again = await owner.client.post(f"{DOCS}/{doc['id']}/shares", json={"email": viewer.email, "role": "editor"})

    assert again.status_code == 409
    assert await members(owner.client, doc["id"]) == [
        (owner.email, "owner"),
        (viewer.email, "viewer"),
    ]


async def test_changing_a_role_to_anything_but_viewer_or_editor_is_422(owner: Person, viewer: Person) -> None:
    doc = await create_doc(owner.client)
    await share(owner.client, doc["id"], viewer.email, "viewer")
    url = f"{DOCS}/{doc['id']}/shares/{viewer.id}"

    statuses = {
        role: (await owner.client.patch(url, json={"role": role})).status_code for role in ("owner", "admin", "")
    }

    assert statuses == {"owner": 422, "admin": 422, "": 422}
    assert (viewer.email, "viewer") in await members(owner.client, doc["id"])


async def test_changing_or_removing_someone_who_is_not_a_member_is_404(owner: Person, stranger: Person) -> None:
    doc = await create_doc(owner.client)
    targets = {"stranger": stranger.id, "unknown": "00000000-0000-4000-8000-000000000000", "malformed": "not-a-uuid"}

    statuses = {
        name: (
            (await owner.client.patch(f"{DOCS}/{doc['id']}/shares/{target}", json={"role": "editor"})).status_code,
            (await owner.client.delete(f"{DOCS}/{doc['id']}/shares/{target}")).status_code,
        )
        for name, target in targets.items()
    }

    assert statuses == dict.fromkeys(targets, (404, 404))


async def test_a_member_can_leave_the_document(owner: Person, editor: Person, viewer: Person) -> None:
    doc = await shared_document(owner, editor, viewer)

    left = await editor.client.delete(f"{DOCS}/{doc['id']}/shares/{editor.id}")

    assert left.status_code == 204
    assert (await editor.client.get(f"{DOCS}/{doc['id']}")).status_code == 404
    assert await titles(editor.client) == []
    assert (editor.email, "editor") not in await members(owner.client, doc["id"])


async def test_a_member_sees_their_own_role_on_the_document(owner: Person, editor: Person, viewer: Person) -> None:
    doc = await shared_document(owner, editor, viewer)

    as_editor = (await editor.client.get(f"{DOCS}/{doc['id']}")).json()
    as_viewer = (await viewer.client.get(f"{DOCS}/{doc['id']}")).json()

    assert (as_editor["role"], as_viewer["role"]) == ("editor", "viewer")


async def test_a_revoked_member_gets_404_on_the_very_next_request(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer)
    assert (await viewer.client.get(f"{DOCS}/{doc['id']}")).status_code == 200

    revoked = await owner.client.delete(f"{DOCS}/{doc['id']}/shares/{viewer.id}")

    assert revoked.status_code == 204
    assert (await viewer.client.get(f"{DOCS}/{doc['id']}")).status_code == 404
    assert (await viewer.client.get(f"{DOCS}/{doc['id']}/file")).status_code == 404
    assert await titles(viewer.client) == []


async def test_a_downgrade_from_editor_to_viewer_blocks_the_very_next_patch(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer)
    assert (await editor.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Mine"})).status_code == 200

    changed = await owner.client.patch(f"{DOCS}/{doc['id']}/shares/{editor.id}", json={"role": "viewer"})
    refused = await editor.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Mine again"})

    assert changed.status_code == 200
    assert changed.json()["role"] == "viewer"
    assert refused.status_code == 403
    assert (await editor.client.get(f"{DOCS}/{doc['id']}")).json()["title"] == "Mine"


async def test_an_upgrade_from_viewer_to_editor_allows_the_very_next_patch(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer)
    assert (await viewer.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Mine"})).status_code == 403

    await owner.client.patch(f"{DOCS}/{doc['id']}/shares/{viewer.id}", json={"role": "editor"})

    assert (await viewer.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Mine"})).status_code == 200


async def test_an_editors_change_is_attributed_to_the_editor(owner: Person, editor: Person, viewer: Person) -> None:
    doc = await shared_document(owner, editor, viewer)

    edited = await editor.client.patch(f"{DOCS}/{doc['id']}", json={"content": "सम्पादित"})

    assert edited.status_code == 200
    body = edited.json()
    assert (body["owner_id"], body["created_by"], body["updated_by"]) == (
        owner.id,
        owner.id,
        editor.id,
    )
    assert body["updated_at"] > doc["updated_at"]
    version = (await owner.client.get(f"{DOCS}/{doc['id']}/versions/{body['version']}")).json()
    assert version["author_id"] == editor.id


# --- the document list --------------------------------------------------------------------------


async def test_list_scope_picks_owned_shared_or_all_visible(owner: Person, editor: Person, stranger: Person) -> None:
    await create_doc(owner.client, title="Mine")
    theirs = await create_doc(editor.client, title="Theirs")
    await share(editor.client, theirs["id"], owner.email, "viewer")
    await create_doc(stranger.client, title="Unshared")

    listed = {}
    for scope in (None, "all", "owned", "shared"):
        listed[scope] = set(await titles(owner.client, **({"scope": scope} if scope else {})))

    assert listed == {None: {"Mine", "Theirs"}, "all": {"Mine", "Theirs"}, "owned": {"Mine"}, "shared": {"Theirs"}}


@pytest.mark.parametrize("sort", ["-updated", "updated", "title", "-created"])
async def test_pages_interleave_owned_and_shared_documents(owner: Person, editor: Person, sort: str) -> None:
    # Owned and shared documents are read as two parts of one query: every page must still be
    # the right slice of the one ordered list, with the total of both.
    for n in range(6):
        author = owner if n % 2 == 0 else editor
        doc = await create_doc(author.client, title=f"Doc {n} {'mine' if author is owner else 'theirs'}")
        if author is editor:
            await share(editor.client, doc["id"], owner.email, "viewer")
    whole = await titles(owner.client, sort=sort, limit="100")

    pages = [(await owner.client.get(DOCS, params={"sort": sort, "limit": 4, "offset": o})).json() for o in (0, 4, 8)]

    assert len(whole) == 6
    assert [item["title"] for page in pages for item in page["items"]] == whole
    assert [page["total"] for page in pages] == [6, 6, 6]
    assert [len(page["items"]) for page in pages] == [4, 2, 0]


async def test_each_listed_document_carries_the_callers_role(owner: Person, editor: Person, viewer: Person) -> None:
    await create_doc(owner.client, title="Mine")
    for person, role in ((editor, "editor"), (viewer, "viewer")):
        theirs = await create_doc(person.client, title=f"From the {role}")
        await share(person.client, theirs["id"], owner.email, role)

    assert await roles_in_list(owner.client) == {
        "Mine": "owner",
        "From the editor": "editor",
        "From the viewer": "viewer",
    }


async def test_list_sort(owner: Person) -> None:
    bravo = await create_doc(owner.client, title="Bravo")
    await create_doc(owner.client, title="Charlie")
    await create_doc(owner.client, title="Alpha")
    await owner.client.patch(f"{DOCS}/{bravo['id']}", json={"content": "touched last"})
    expected = {
        None: ["Bravo", "Alpha", "Charlie"],
        "-updated": ["Bravo", "Alpha", "Charlie"],
        "updated": ["Charlie", "Alpha", "Bravo"],
        "created": ["Bravo", "Charlie", "Alpha"],
        "-created": ["Alpha", "Charlie", "Bravo"],
        "title": ["Alpha", "Bravo", "Charlie"],
        "-title": ["Charlie", "Bravo", "Alpha"],
    }

    listed = {sort: await titles(owner.client, **({"sort": sort} if sort else {})) for sort in expected}

    assert listed == expected


async def test_an_unknown_list_option_is_422(owner: Person) -> None:
    options = [{"scope": "mine"}, {"scope": "trashed"}, {"sort": "owner"}, {"sort": "+title"}, {"starred": "maybe"}]

    statuses = [(await owner.client.get(DOCS, params=params)).status_code for params in options]

    assert statuses == [422] * len(options)


async def test_stars_are_per_user_and_filter_the_list(owner: Person, editor: Person, viewer: Person) -> None:
    starred = await shared_document(owner, editor, viewer, title="Starred")
    await shared_document(owner, editor, viewer, title="Plain")

    first = await viewer.client.put(f"{DOCS}/{starred['id']}/star")
    again = await viewer.client.put(f"{DOCS}/{starred['id']}/star")

    assert (first.status_code, again.status_code) == (204, 204)
    assert await titles(viewer.client, starred="true") == ["Starred"]
    assert await titles(owner.client, starred="true") == []
    listed = (await viewer.client.get(DOCS)).json()["items"]
    assert {item["title"]: item["starred"] for item in listed} == {"Starred": True, "Plain": False}
    assert (await viewer.client.get(f"{DOCS}/{starred['id']}")).json()["starred"] is True

    assert (await viewer.client.delete(f"{DOCS}/{starred['id']}/star")).status_code == 204
    assert await titles(viewer.client, starred="true") == []


async def test_a_trashed_document_leaves_every_list_but_the_owners_trash(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer, title="Old")
    await shared_document(owner, editor, viewer, title="Kept")
    await viewer.client.put(f"{DOCS}/{doc['id']}/star")

    assert (await owner.client.delete(f"{DOCS}/{doc['id']}")).status_code == 204

    assert await titles(owner.client) == ["Kept"]
    assert await titles(owner.client, trashed="true") == ["Old"]
    assert await titles(editor.client) == ["Kept"]
    assert await titles(editor.client, trashed="true") == []
    assert await titles(viewer.client, starred="true") == []
    assert (await viewer.client.get(f"{DOCS}/{doc['id']}")).status_code == 404


# --- recent -------------------------------------------------------------------------------------


async def recent(client: httpx.AsyncClient) -> list[str]:
    response = await client.get(f"{DOCS}/recent")
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()]


async def test_recent_lists_what_you_opened_or_edited_newest_first(owner: Person) -> None:
    a = await create_doc(owner.client, title="A")
    b = await create_doc(owner.client, title="B")
    await create_doc(owner.client, title="Never opened")

    await owner.client.get(f"{DOCS}/{a['id']}")
    await owner.client.get(f"{DOCS}/{b['id']}")
    assert await recent(owner.client) == ["B", "A"]

    await owner.client.patch(f"{DOCS}/{a['id']}", json={"content": "edited"})
    assert await recent(owner.client) == ["A", "B"]


async def test_recent_is_per_user_and_forgets_documents_you_can_no_longer_see(
    owner: Person, editor: Person, viewer: Person, stranger: Person
) -> None:
    doc = await shared_document(owner, editor, viewer, title="Shared")
    await viewer.client.get(f"{DOCS}/{doc['id']}")
    await editor.client.get(f"{DOCS}/{doc['id']}")

    assert await recent(viewer.client) == ["Shared"]
    assert await recent(stranger.client) == []

    await owner.client.delete(f"{DOCS}/{doc['id']}/shares/{viewer.id}")
    await owner.client.delete(f"{DOCS}/{doc['id']}")
    assert await recent(viewer.client) == []
    assert await recent(editor.client) == []


# --- versions -----------------------------------------------------------------------------------


async def versions(client: httpx.AsyncClient, doc_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{DOCS}/{doc_id}/versions")
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_change_of_title_or_content_stores_a_version(owner: Person, editor: Person, viewer: Person) -> None:
    doc = await shared_document(owner, editor, viewer, title="v1")
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "v2"})
    await editor.client.patch(f"{DOCS}/{doc['id']}", json={"content": "text of v3"})
    unchanged = await editor.client.patch(f"{DOCS}/{doc['id']}", json={"title": "v2", "content": "text of v3"})

    listed = await versions(viewer.client, doc["id"])

    assert unchanged.json()["version"] == 3
    assert [(v["version"], v["title"], v["author_id"]) for v in listed] == [
        (3, "v2", editor.id),
        (2, "v2", owner.id),
        (1, "v1", owner.id),
    ]
    assert all(set(v) == {"version", "title", "author_id", "created_at"} for v in listed)
    second = await viewer.client.get(f"{DOCS}/{doc['id']}/versions/2")
    assert second.status_code == 200
    assert (second.json()["title"], second.json()["content"]) == ("v2", "")
    assert (await viewer.client.get(f"{DOCS}/{doc['id']}/versions/3")).json()["content"] == "text of v3"


async def test_a_version_that_does_not_exist_is_404_and_one_that_cannot_is_422(owner: Person) -> None:
    doc = await create_doc(owner.client)
    url = f"{DOCS}/{doc['id']}/versions"

    statuses = {
        version: (
            (await owner.client.get(f"{url}/{version}")).status_code,
            (await owner.client.post(f"{url}/{version}/restore", json={})).status_code,
        )
        for version in ("2", "0", "2147483648", "x")
    }

    assert statuses == {"2": (404, 404), "0": (422, 422), "2147483648": (422, 422), "x": (422, 422)}


async def test_restoring_a_version_makes_a_new_one_and_keeps_the_old(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer, title="First")
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Second", "content": "changed"})

    restored = await editor.client.post(f"{DOCS}/{doc['id']}/versions/1/restore", json={"version": 2})

    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["version"], body["title"], body["content"], body["updated_by"]) == (3, "First", "", editor.id)
    assert restored.headers["etag"] == '"3"'
    assert [(v["version"], v["title"]) for v in await versions(owner.client, doc["id"])] == [
        (3, "First"),
        (2, "Second"),
        (1, "First"),
    ]


@pytest.mark.parametrize("how", ["body", "if-match"])
async def test_restoring_over_a_newer_version_is_409_with_the_current_version(owner: Person, how: str) -> None:
    doc = await create_doc(owner.client, title="First")
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Second"})
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Third"})

    stale = {"json": {"version": 2}} if how == "body" else {"json": {}, "headers": {"If-Match": '"2"'}}
    response = await owner.client.post(f"{DOCS}/{doc['id']}/versions/1/restore", **stale)

    assert response.status_code == 409
    assert response.json()["code"] == "version_conflict"
    assert response.json()["current_version"] == 3
    assert len(await versions(owner.client, doc["id"])) == 3


async def test_restore_with_if_match_naming_the_current_version_succeeds(owner: Person) -> None:
    doc = await create_doc(owner.client, title="First")
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Second"})

    response = await owner.client.post(f"{DOCS}/{doc['id']}/versions/1/restore", json={}, headers={"If-Match": '"2"'})

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["title"]) == (3, "First")


# --- trash --------------------------------------------------------------------------------------


async def test_trash_and_restore_bring_the_document_back_for_everyone(
    owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer, title="Round trip")
    assert (await owner.client.delete(f"{DOCS}/{doc['id']}")).status_code == 204
    trashed = (await owner.client.get(f"{DOCS}/{doc['id']}")).json()
    assert trashed["trashed_at"] is not None

    restored = await owner.client.post(f"{DOCS}/{doc['id']}/restore")

    assert restored.status_code == 200
    assert restored.json()["trashed_at"] is None
    assert await titles(owner.client, trashed="true") == []
    assert await titles(viewer.client) == ["Round trip"]
    assert (await editor.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Edited"})).status_code == 200


async def test_racing_trash_restore_and_purge_requests_change_the_document_once_each(
    app: FastAPI, owner: Person
) -> None:
    # Several documents: whether two requests meet between check and write depends on timing.
    docs = [await create_doc(owner.client, title=f"Raced {i}") for i in range(3)]

    async def at_once(method: str, path: str, **params: str) -> list[int]:
        calls = (owner.client.request(method, path, params=params) for _ in range(6))
        return sorted(r.status_code for r in await asyncio.gather(*calls))

    for doc in docs:
        url = f"{DOCS}/{doc['id']}"
        assert await at_once("DELETE", url) == [204] + [409] * 5
        assert await at_once("POST", f"{url}/restore") == [200] + [409] * 5
        await owner.client.delete(url)
        assert await at_once("DELETE", url, permanent="true") == [204] + [404] * 5

    for action in ("document.trash", "document.restore", "document.purge"):
        assert len(await audit_rows(app, action)) == len(docs) * (2 if action == "document.trash" else 1)


async def test_a_trashed_document_cannot_be_edited_until_restored(owner: Person) -> None:
    doc = await create_doc(owner.client)
    await owner.client.delete(f"{DOCS}/{doc['id']}")

    response = await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "While trashed"})

    assert response.status_code == 409
    assert response.json()["code"] == "document_trashed"


async def test_purge_deletes_the_row_versions_shares_links_and_stored_file_but_keeps_audit_rows(
    app: FastAPI, owner: Person, editor: Person, viewer: Person
) -> None:
    doc = await shared_document(owner, editor, viewer)
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"title": "Second"})
    await create_link(owner.client, doc["id"])
    await viewer.client.put(f"{DOCS}/{doc['id']}/star")
    await viewer.client.get(f"{DOCS}/{doc['id']}")
    audit_before = await audit_rows(app, target_id=doc["id"])
    assert len(stored_objects(app)) == 1

    purged = await owner.client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})

    assert purged.status_code == 204
    assert (await owner.client.get(f"{DOCS}/{doc['id']}")).status_code == 404
    for model in (Document, DocumentVersion, DocumentShare, ShareLink, DocumentStar, DocumentRecent, DocumentFile):
        column = Document.id if model is Document else model.document_id
        async with app.state.db.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(model).where(column == uuid.UUID(doc["id"])))
        assert count == 0, model.__tablename__
    assert stored_objects(app) == set()
    audit_after = await audit_rows(app, target_id=doc["id"])
    assert audit_after[: len(audit_before)] == audit_before
    assert [row.action for row in audit_after[len(audit_before) :]] == ["document.purge"]


async def test_trash_older_than_the_retention_is_purged_with_its_file(
    app: FastAPI, owner: Person, ticking_clock: TickingClock
) -> None:
    old = await upload(owner.client, png_bytes((64, 32)), title="Trashed long ago")
    await owner.client.delete(f"{DOCS}/{old['id']}")
    ticking_clock.advance(days=2)
    recent_one = await upload(owner.client, png_bytes((32, 64)), title="Trashed lately")
    await owner.client.delete(f"{DOCS}/{recent_one['id']}")
    await upload(owner.client, png_bytes((48, 48)), title="Not trashed")
    files_before = stored_objects(app)
    retention = timedelta(days=app.state.settings.trash_retention_days)

    purged = await purge_expired_trash(
        db=app.state.db, storage=app.state.storage, now=T0 + timedelta(days=31), retention=retention
    )

    assert retention == timedelta(days=30)
    assert purged == 1
    assert (await owner.client.get(f"{DOCS}/{old['id']}")).status_code == 404
    assert await titles(owner.client, trashed="true") == ["Trashed lately"]
    assert await titles(owner.client) == ["Not trashed"]
    assert len(stored_objects(app)) == len(files_before) - 1
    assert await rows_for(app, DocumentFile, recent_one["id"]) == 1
    assert [row.details["reason"] for row in await audit_rows(app, "document.purge")] == ["retention"]


async def test_starring_from_many_requests_at_once_leaves_one_star(app: FastAPI, owner: Person) -> None:
    # Several documents: whether two requests meet between check and insert depends on timing.
    docs = [await create_doc(owner.client, title=f"Starred {i}") for i in range(5)]

    for doc in docs:
        responses = await asyncio.gather(*(owner.client.put(f"{DOCS}/{doc['id']}/star") for _ in range(10)))

        assert [r.status_code for r in responses] == [204] * 10
        assert await rows_for(app, DocumentStar, doc["id"]) == 1
    assert sorted(await titles(owner.client, starred="true")) == [doc["title"] for doc in docs]


# --- duplicate ----------------------------------------------------------------------------------


async def test_duplicating_a_document_whose_file_is_gone_from_storage_is_404_and_copies_nothing(
    app: FastAPI, owner: Person
) -> None:
    doc = await upload(owner.client, title="Scan")
    for path in stored_objects(app):
        path.unlink()

    response = await owner.client.post(f"{DOCS}/{doc['id']}/duplicate")

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "file_missing"
    assert await titles(owner.client) == ["Scan"]
    assert await audit_rows(app, "document.duplicate") == []


async def test_a_viewer_duplicates_into_a_copy_they_own_with_the_file_and_ocr_text(
    app: FastAPI, owner: Person, editor: Person, viewer: Person, engine: OcrEngine
) -> None:
    content = text_png()
    doc = await shared_document(owner, editor, viewer, content=content, title="Notice", languages="eng")
    assert await run_ocr(app, engine, doc["id"]) == "done"
    source = (await owner.client.get(f"{DOCS}/{doc['id']}")).json()
    source_ocr = (await owner.client.get(f"{DOCS}/{doc['id']}/ocr")).json()
    assert source_ocr["pages"] and source_ocr["pages"][0]["text"].strip()

    response = await viewer.client.post(f"{DOCS}/{doc['id']}/duplicate")

    assert response.status_code == 201, response.text
    copy = response.json()
    assert copy["id"] != doc["id"]
    assert (copy["title"], copy["owner_id"], copy["role"]) == ("Notice (copy)", viewer.id, "owner")
    assert copy["content"] == source["content"]
    assert copy["file"] == source["file"]
    assert copy["ocr"]["status"] == "done"
    file = await viewer.client.get(f"{DOCS}/{copy['id']}/file")
    assert file.status_code == 200 and file.content == content
    copied_ocr = (await viewer.client.get(f"{DOCS}/{copy['id']}/ocr")).json()
    assert [p["text"] for p in copied_ocr["pages"]] == [p["text"] for p in source_ocr["pages"]]
    assert await members(viewer.client, copy["id"]) == [(viewer.email, "owner")]
    assert (await owner.client.get(f"{DOCS}/{copy['id']}")).status_code == 404
    assert len(stored_objects(app)) == 2

    await owner.client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})
    assert (await viewer.client.get(f"{DOCS}/{copy['id']}/file")).content == content


async def test_the_copy_of_a_255_character_title_still_fits(owner: Person) -> None:
    doc = await create_doc(owner.client, title="त" * 255)

    copy = (await owner.client.post(f"{DOCS}/{doc['id']}/duplicate")).json()

    assert len(copy["title"]) == 255
    assert copy["title"].endswith(" (copy)")


# --- share links --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"public_app_url": "https://lekhamudra.example.np/"}], indirect=True)
async def test_a_new_link_shows_its_token_once_with_a_url_on_the_public_app(owner: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={})

    assert response.status_code == 201
    link = response.json()
    assert set(link) >= {"id", "token", "url", "expires_at"}
    assert link["url"] == f"https://lekhamudra.example.np/shared/{link['token']}"
    assert link["expires_at"] is None
    assert len(link["token"]) >= 32


async def test_the_owner_lists_links_with_their_access_count_but_never_their_tokens(
    owner: Person, anonymous: httpx.AsyncClient
) -> None:
    doc = await create_doc(owner.client)
    link = await create_link(owner.client, doc["id"], password="open sesame")
    await anonymous.post(f"{SHARED}/{link['token']}", json={"password": "open sesame"})

    response = await owner.client.get(f"{DOCS}/{doc['id']}/links")

    assert response.status_code == 200, response.text
    (listed,) = response.json()
    assert listed["id"] == link["id"]
    assert listed["has_password"] is True
    assert (listed["access_count"], listed["revoked_at"]) == (1, None)
    assert listed["last_accessed_at"] is not None
    assert link["token"] not in response.text
    assert "open sesame" not in response.text


async def test_anyone_with_the_link_reads_title_content_and_ocr_status_without_a_session(
    owner: Person, anonymous: httpx.AsyncClient
) -> None:
    doc = await upload(owner.client, title="Public notice")
    await owner.client.patch(f"{DOCS}/{doc['id']}", json={"content": "सूचना"})
    link = await create_link(owner.client, doc["id"])

    response = await anonymous.get(f"{SHARED}/{link['token']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"title", "content", "updated_at", "ocr", "file"}
    assert (body["title"], body["content"], body["ocr"]["status"]) == ("Public notice", "सूचना", "queued")
    assert "set-cookie" not in response.headers


async def test_a_link_serves_the_original_file(owner: Person, anonymous: httpx.AsyncClient) -> None:
    content = png_bytes((40, 30))
    doc = await upload(owner.client, content)
    link = await create_link(owner.client, doc["id"])

    response = await anonymous.get(f"{SHARED}/{link['token']}/file")

    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize("how", ["header", "body"])
async def test_a_password_link_opens_with_the_password(owner: Person, anonymous: httpx.AsyncClient, how: str) -> None:
    doc = await upload(owner.client, title="Secret")
    link = await create_link(owner.client, doc["id"], password="open sesame")
    token = link["token"]

    if how == "header":
        page = await anonymous.get(f"{SHARED}/{token}", headers={"X-Share-Password": "open sesame"})
    else:
        page = await anonymous.post(f"{SHARED}/{token}", json={"password": "open sesame"})
    file = await anonymous.get(f"{SHARED}/{token}/file", headers={"X-Share-Password": "open sesame"})

    assert page.status_code == 200, page.text
    assert page.json()["title"] == "Secret"
    assert file.status_code == 200
    assert link["has_password"] is True


async def test_a_devanagari_password_works_in_the_body(owner: Person, anonymous: httpx.AsyncClient) -> None:
    doc = await create_doc(owner.client, title="Secret")
    link = await create_link(owner.client, doc["id"], password="खुल जा सिमसिम")

    response = await anonymous.post(f"{SHARED}/{link['token']}", json={"password": "खुल जा सिमसिम"})

    assert response.status_code == 200, response.text


async def test_a_password_link_without_the_right_password_is_404(owner: Person, anonymous: httpx.AsyncClient) -> None:
    doc = await upload(owner.client)
    token = (await create_link(owner.client, doc["id"], password="open sesame"))["token"]
    page, file = f"{SHARED}/{token}", f"{SHARED}/{token}/file"
    wrong = {"X-Share-Password": "wrong"}
    attempts = {
        "no password": [anonymous.get(page), anonymous.get(file), anonymous.post(page)],
        "wrong password in the header": [anonymous.get(page, headers=wrong), anonymous.get(file, headers=wrong)],
        "wrong password in the body": [anonymous.post(page, json={"password": "wrong"})],
        "null password in the body": [anonymous.post(page, json={"password": None})],
        "right password in the URL": [
            anonymous.get(page, params={"password": "open sesame"}),
            anonymous.get(file, params={"password": "open sesame"}),
        ],
    }

    statuses = {name: [(await request).status_code for request in requests] for name, requests in attempts.items()}

    assert statuses == {name: [404] * len(requests) for name, requests in attempts.items()}


async def test_an_expired_link_is_404(owner: Person, anonymous: httpx.AsyncClient, ticking_clock: TickingClock) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"], expires_at=(ticking_clock.now + timedelta(hours=1)).isoformat())
    assert (await anonymous.get(f"{SHARED}/{link['token']}")).status_code == 200

    ticking_clock.advance(hours=1)

    assert (await anonymous.get(f"{SHARED}/{link['token']}")).status_code == 404
    assert (await anonymous.get(f"{SHARED}/{link['token']}/file")).status_code == 404


async def test_a_link_that_would_already_be_expired_is_422(owner: Person, ticking_clock: TickingClock) -> None:
    doc = await create_doc(owner.client)
    url = f"{DOCS}/{doc['id']}/links"

    statuses = {
        name: (await owner.client.post(url, json={"expires_at": (ticking_clock.now + delta).isoformat()})).status_code
        for name, delta in {"now": timedelta(0), "an hour ago": timedelta(hours=-1)}.items()
    }

    assert statuses == {"now": 422, "an hour ago": 422}


async def test_a_naive_expiry_time_is_422(owner: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={"expires_at": "2099-01-01T00:00:00"})

    assert response.status_code == 422


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.999999-23:59"])
async def test_an_expiry_time_past_the_last_day_python_has_in_utc_is_422(owner: Person, expires_at: str) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={"expires_at": expires_at})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert (await owner.client.get(f"{DOCS}/{doc['id']}/links")).json() == []


async def test_an_expiry_time_is_stored_and_shown_in_utc(owner: Person) -> None:
    doc = await create_doc(owner.client)

    response = await owner.client.post(f"{DOCS}/{doc['id']}/links", json={"expires_at": "2099-01-01T05:45:00+05:45"})

    assert response.status_code == 201, response.text
    listed = (await owner.client.get(f"{DOCS}/{doc['id']}/links")).json()
    assert [link["expires_at"] for link in listed] == ["2099-01-01T00:00:00Z"]


async def test_a_revoked_link_is_404_and_cannot_be_revoked_twice(owner: Person, anonymous: httpx.AsyncClient) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"])
    other = await create_link(owner.client, doc["id"])

    revoked = await owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")

    assert revoked.status_code == 204
    assert (await anonymous.get(f"{SHARED}/{link['token']}")).status_code == 404
    assert (await anonymous.get(f"{SHARED}/{link['token']}/file")).status_code == 404
    assert (await owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")).status_code == 404
    assert (await anonymous.get(f"{SHARED}/{other['token']}")).status_code == 200


async def test_a_link_id_from_another_document_is_404(owner: Person, anonymous: httpx.AsyncClient) -> None:
    doc = await create_doc(owner.client)
    elsewhere = await create_doc(owner.client)
    link = await create_link(owner.client, elsewhere["id"])

    response = await owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")

    assert response.status_code == 404
    assert (await anonymous.get(f"{SHARED}/{link['token']}")).status_code == 200


async def test_a_link_to_a_trashed_document_is_404(owner: Person, anonymous: httpx.AsyncClient) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"])

    await owner.client.delete(f"{DOCS}/{doc['id']}")

    assert (await anonymous.get(f"{SHARED}/{link['token']}")).status_code == 404
    assert (await anonymous.get(f"{SHARED}/{link['token']}/file")).status_code == 404


async def test_an_unknown_token_is_404(anonymous: httpx.AsyncClient) -> None:
    tokens = ["unknown-token", "x" * 43, "%00", "a" * 300]

    statuses = [(await anonymous.get(f"{SHARED}/{token}")).status_code for token in tokens]

    assert statuses == [404] * len(tokens)


async def test_each_access_is_counted_and_refusals_are_not(
    app: FastAPI, owner: Person, anonymous: httpx.AsyncClient
) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"], password="open sesame")
    good = {"X-Share-Password": "open sesame"}

    await anonymous.get(f"{SHARED}/{link['token']}", headers=good)
    await anonymous.post(f"{SHARED}/{link['token']}", json={"password": "open sesame"})
    await anonymous.get(f"{SHARED}/{link['token']}/file", headers=good)
    await anonymous.get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": "wrong"})

    async with app.state.db.engine.connect() as conn:
        row = (await conn.execute(select(ShareLink).where(ShareLink.id == uuid.UUID(link["id"])))).one()
    assert row.access_count == 3
    assert row.last_accessed_at is not None
    assert len(await audit_rows(app, "link.access")) == 3
    assert len(await audit_rows(app, "link.access_denied")) == 1


async def test_neither_the_token_nor_the_password_is_ever_stored_or_listed(
    app: FastAPI, owner: Person, anonymous: httpx.AsyncClient
) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"], password="open sesame")
    await anonymous.get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": "open sesame"})
    await anonymous.get(f"{SHARED}/{link['token']}", headers={"X-Share-Password": "wrong guess"})
    await owner.client.delete(f"{DOCS}/{doc['id']}/links/{link['id']}")
    await anonymous.get(f"{SHARED}/{link['token']}")

    async with app.state.db.engine.connect() as conn:
        audit = (await conn.execute(select(AuditEvent))).all()
        links = (await conn.execute(select(ShareLink))).all()
    audit_text = json.dumps([tuple(row) for row in audit], default=str, ensure_ascii=False)
    links_text = json.dumps([tuple(row) for row in links], default=str, ensure_ascii=False)
    assert {row.action for row in audit} >= {"link.create", "link.access", "link.access_denied", "link.revoke"}
    assert link["token"] not in audit_text + links_text
    assert hashlib.sha256(link["token"].encode()).hexdigest() not in audit_text
    assert "open sesame" not in audit_text + links_text
    assert "wrong guess" not in audit_text


async def test_many_people_opening_one_link_at_once_all_get_it_and_are_all_counted(
    app: FastAPI, owner: Person, new_client: ClientFactory
) -> None:
    doc = await upload(owner.client)
    link = await create_link(owner.client, doc["id"])
    readers = [new_client() for _ in range(8)]

    responses = await asyncio.gather(*(reader.get(f"{SHARED}/{link['token']}") for reader in readers))

    assert [r.status_code for r in responses] == [200] * len(readers)
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(select(ShareLink.access_count)) == len(readers)
    assert len(await audit_rows(app, "link.access")) == len(readers)


@pytest.mark.parametrize("settings", [{"frontend_origins": "https://lekhamudra.example.np"}], indirect=True)
async def test_the_frontend_may_send_the_link_password_header_across_origins(anonymous: httpx.AsyncClient) -> None:
    preflight = await anonymous.options(
        f"{SHARED}/some-token",
        headers={
            "Origin": "https://lekhamudra.example.np",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-share-password",
        },
    )

    assert preflight.status_code == 200, preflight.text
    assert "x-share-password" in preflight.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "shares", {"email": "someone@example.com", "role": "viewer"}),
        ("POST", "links", {}),
        ("POST", "duplicate", None),
        ("POST", "ocr", {}),
        ("PATCH", "", {"title": "changed"}),
    ],
    ids=["share", "link", "duplicate", "rerun-ocr", "edit"],
)
async def test_a_trashed_document_is_frozen_until_restored(
    owner: Person, viewer: Person, method: str, path: str, body: Any
) -> None:
    doc = await upload(owner.client, png_bytes())
    await owner.client.delete(f"{DOCS}/{doc['id']}")
    if path == "shares":
        body = {"email": viewer.email, "role": "viewer"}

    response = await owner.client.request(method, f"{DOCS}/{doc['id']}/{path}".rstrip("/"), json=body)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "document_trashed"
