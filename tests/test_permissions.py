"""The permission matrix: what each role gets from every document endpoint.

One row per endpoint; the columns are the specification. A caller who cannot see the document
gets 404, one who can see it but lacks the right gets 403, and a caller without a session 401.
Every cell runs against a fresh document the owner uploaded (so file and OCR routes apply) and
shared with the editor and the viewer; a row's `given` steps prepare more (a second version, a
link, a finished OCR run, the trash). A refusal must leave the document exactly as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models import Document, DocumentFile, DocumentShare, DocumentStar, DocumentVersion, OcrJob, ShareLink
from app.ocr import OcrEngine
from tests.conftest import ClientFactory, SignUp
from tests.sharing_world import DOCS, ROLES, World, build_world, create_link, run_ocr, shared_document

REFUSAL_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    # Under /api/v1/documents/{doc}. {member} is another member, {link} the document's link, and
    # {stranger} (in a body) the stranger's email.
    path: str
    statuses: tuple[int, int, int, int, int]  # owner, editor, viewer, stranger, anonymous
    body: dict[str, Any] | None = None
    given: tuple[str, ...] = ()  # steps from GIVEN, in order, before the request

    def __str__(self) -> str:
        return self.name


SHARE_STRANGER = {"email": "{stranger}", "role": "viewer"}
TRASHED, EDITED, LINKED, OCR_DONE = ("trashed",), ("edited",), ("linked",), ("ocr done",)

ENDPOINTS = [
    #        name                      method    path                   owner editor viewer stranger anon
    Endpoint("read document",          "GET",    "",                    (200, 200, 200, 404, 401)),
    Endpoint("edit document",          "PATCH",  "",                    (200, 200, 403, 404, 401), {"title": "New"}),
    Endpoint("replace document",       "PUT",    "",                    (200, 200, 403, 404, 401), {"title": "New"}),
    Endpoint("trash document",         "DELETE", "",                    (204, 403, 403, 404, 401)),
    Endpoint("purge document",         "DELETE", "?permanent=true",     (204, 403, 403, 404, 401)),
    Endpoint("read trashed document",  "GET",    "",                    (200, 404, 404, 404, 401), given=TRASHED),
    Endpoint("restore from trash",     "POST",   "/restore",            (200, 404, 404, 404, 401), given=TRASHED),
    Endpoint("restore, not in trash",  "POST",   "/restore",            (409, 403, 403, 404, 401)),
    Endpoint("purge trashed document", "DELETE", "?permanent=true",     (204, 404, 404, 404, 401), given=TRASHED),
    Endpoint("duplicate",              "POST",   "/duplicate",          (201, 201, 201, 404, 401)),
    Endpoint("star",                   "PUT",    "/star",               (204, 204, 204, 404, 401)),
    Endpoint("unstar",                 "DELETE", "/star",               (204, 204, 204, 404, 401)),
    Endpoint("list versions",          "GET",    "/versions",           (200, 200, 200, 404, 401)),
    Endpoint("read version",           "GET",    "/versions/1",         (200, 200, 200, 404, 401)),
    Endpoint("restore version",        "POST",   "/versions/1/restore", (200, 200, 403, 404, 401), {}, given=EDITED),
    Endpoint("list members",           "GET",    "/shares",             (200, 200, 200, 404, 401)),
    Endpoint("share",                  "POST",   "/shares",             (201, 403, 403, 404, 401), SHARE_STRANGER),
    Endpoint("change a member's role", "PATCH",  "/shares/{member}",    (200, 403, 403, 404, 401), {"role": "editor"}),
    Endpoint("remove another member",  "DELETE", "/shares/{member}",    (204, 403, 403, 404, 401)),
    Endpoint("list links",             "GET",    "/links",              (200, 403, 403, 404, 401), given=LINKED),
    Endpoint("create link",            "POST",   "/links",              (201, 403, 403, 404, 401), {}),
    Endpoint("revoke link",            "DELETE", "/links/{link}",       (204, 403, 403, 404, 401), given=LINKED),
    Endpoint("activity",               "GET",    "/activity",           (200, 200, 200, 404, 401)),
    Endpoint("download file",          "GET",    "/file",               (200, 200, 200, 404, 401)),
    Endpoint("list files",             "GET",    "/files",              (200, 200, 200, 404, 401)),
    Endpoint("download file 1",        "GET",    "/files/1",            (200, 200, 200, 404, 401)),
    Endpoint("page picture",           "GET",    "/pages/1/image",      (200, 200, 200, 404, 401), given=OCR_DONE),
    Endpoint("read OCR",               "GET",    "/ocr",                (200, 200, 200, 404, 401)),
    Endpoint("re-run OCR",             "POST",   "/ocr",                (202, 202, 403, 404, 401), {}, given=OCR_DONE),
]  # fmt: skip


@pytest.fixture
async def world(new_client: ClientFactory, sign_up: SignUp) -> World:
    return await build_world(new_client, sign_up)


async def _document_for(world: World, endpoint: Endpoint, app: FastAPI, engine: OcrEngine | None) -> dict[str, str]:
    """A fresh shared document after the row's `given` steps; returns the path's placeholders."""
    owner = world.owner.client
    doc = await shared_document(world.owner, world.editor, world.viewer)
    ids = {"doc": doc["id"], "stranger": world.stranger.email}
    for step in endpoint.given:
        if step == "edited":
            assert (await owner.patch(f"{DOCS}/{doc['id']}", json={"content": "Second version"})).status_code == 200
        elif step == "linked":
            ids["link"] = (await create_link(owner, doc["id"]))["id"]
        elif step == "ocr done":
            assert engine is not None
            assert await run_ocr(app, engine, doc["id"]) == "done"
        elif step == "trashed":
            assert (await owner.delete(f"{DOCS}/{doc['id']}")).status_code == 204
        else:
            raise AssertionError(f"unknown step {step!r}")
    return ids


async def _stored_state(app: FastAPI, doc_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """The document's row and everything hanging off it, as stored."""
    models = (Document, DocumentShare, ShareLink, DocumentVersion, DocumentStar, OcrJob, DocumentFile)
    state = {}
    async with app.state.db.engine.connect() as conn:
        for model in models:
            column = Document.id if model is Document else model.document_id
            rows = await conn.execute(select(model).where(column == uuid.UUID(doc_id)))
            state[model.__tablename__] = sorted(map(tuple, rows.all()), key=repr)
    return state


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_each_role_gets_the_specified_status(
    endpoint: Endpoint, world: World, app: FastAPI, request: pytest.FixtureRequest
) -> None:
    needs_ocr = "ocr done" in endpoint.given
    engine = request.getfixturevalue("engine") if needs_ocr else None
    observed: dict[str, int] = {}
    wrong_codes: dict[str, str] = {}
    changed_by_refusal: list[str] = []

    for role, expected in zip(ROLES, endpoint.statuses, strict=True):
        ids = await _document_for(world, endpoint, app, engine)
        # "Another member": the viewer, unless the caller is the viewer.
        ids["member"] = world.editor.id if role == "viewer" else world.viewer.id
        path = f"{DOCS}/{ids['doc']}" + endpoint.path.format(**ids)
        body = {key: value.format(**ids) for key, value in endpoint.body.items()} if endpoint.body is not None else None
        before = await _stored_state(app, ids["doc"]) if expected in REFUSAL_CODES else None

        response = await world.client(role).request(endpoint.method, path, json=body)

        observed[role] = response.status_code
        if response.status_code in REFUSAL_CODES and response.json().get("code") != REFUSAL_CODES[response.status_code]:
            wrong_codes[role] = response.text
        if before is not None and await _stored_state(app, ids["doc"]) != before:
            changed_by_refusal.append(role)

    assert observed == dict(zip(ROLES, endpoint.statuses, strict=True))
    assert wrong_codes == {}
    assert changed_by_refusal == []


BAD_EDITS = {
    "PATCH with an empty title": ("PATCH", {"title": ""}, {}),
    "PATCH with a malformed If-Match": ("PATCH", {"title": "New"}, {"if-match": "abc"}),
    "PUT without a title": ("PUT", {"content": "x"}, {}),
}


@pytest.mark.parametrize("bad", BAD_EDITS.values(), ids=BAD_EDITS.keys())
async def test_bad_input_to_an_edit_is_judged_after_who_may_edit(world: World, bad: tuple[Any, ...]) -> None:
    """Who may edit comes first (401, 404, 403, 409 in the trash), the body and If-Match after:
    a stranger learns nothing from a malformed edit but that they cannot see the document."""
    method, body, headers = bad
    doc = await shared_document(world.owner, world.editor, world.viewer)
    url = f"{DOCS}/{doc['id']}"

    observed = {
        role: (await world.client(role).request(method, url, json=body, headers=headers)).status_code for role in ROLES
    }
    assert (await world.owner.client.delete(url)).status_code == 204
    in_trash = await world.owner.client.request(method, url, json=body, headers=headers)

    assert observed == {"owner": 422, "editor": 422, "viewer": 403, "stranger": 404, "anonymous": 401}
    assert (in_trash.status_code, in_trash.json()["code"]) == (409, "document_trashed")


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT"])
async def test_a_malformed_id_without_a_session_is_401(world: World, method: str) -> None:
    response = await world.anonymous.request(method, f"{DOCS}/not-a-uuid", json={"title": "New"})

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
