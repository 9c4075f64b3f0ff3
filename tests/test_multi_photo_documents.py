"""Multi-photo documents: several photos in one upload make one document, its pages in order;
photos appended later are OCR'd alone; every file is downloadable, copied and purged."""

from __future__ import annotations

import io
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from app.models import AuditEvent, Document, DocumentFile, DocumentVersion, OcrJob, OcrPage
from app.services.ocr_pipeline import OcrDeps, run_ocr_job
from tests.conftest import ClientFactory, Person, SignUp, sign_up_as
from tests.ocr.pages import render_page
from tests.ocr.photos import Distortions, photograph

pytestmark = pytest.mark.usefixtures("alice")
UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"
# One distinct word per photo: page n's text must hold photo n's word and no other's.
WORDS = ("Apricot", "Buffalo", "Cardamom", "Dolphin")
ON_A_DESK = Distortions(tilt=15, gradient=0.3, jpeg_quality=85)


@cache
def photo(number: int) -> bytes:
    """A phone-photo-like JPEG of a short letter page whose text names WORDS[number - 1]."""
    page, _ = render_page(
        [f"Letter page {number}", f"The {WORDS[number - 1]} paragraph of this letter."], min_height=2480
    )
    buffer = io.BytesIO()
    photograph(page, ON_A_DESK, seed=number, size=(1500, 2000)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (200, 300), 255).save(buffer, format="PDF", resolution=100)
    return buffer.getvalue()


def parts(*numbers: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (f"IMG_{n}.jpg", photo(n), "image/jpeg")) for n in numbers]


async def upload_photos(client: httpx.AsyncClient, *numbers: int) -> dict[str, Any]:
    response = await client.post(UPLOAD, files=parts(*numbers), data={"languages": "eng"})
    assert response.status_code == 202, response.text
    return response.json()


async def append(client: httpx.AsyncClient, doc: dict[str, Any], *numbers: int) -> httpx.Response:
    return await client.post(f"{DOCS}/{doc['id']}/pages", files=parts(*numbers))


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(model))


async def rows(app: FastAPI, statement: Any) -> list[Any]:
    async with app.state.db.engine.connect() as conn:
        return list((await conn.execute(statement)).all())


def stored_objects(app: FastAPI) -> set[Path]:
    root = app.state.settings.data_dir / "files"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def assert_nothing_left(app: FastAPI) -> None:
    assert await count(app, Document) == 0
    assert await count(app, DocumentFile) == 0
    assert await count(app, OcrJob) == 0
    assert stored_objects(app) == set()


async def ocr_pages(client: httpx.AsyncClient, doc: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"{DOCS}/{doc['id']}/ocr")
    assert response.status_code == 200
    return response.json()["pages"]


def assert_pages_read_in_order(pages: list[dict[str, Any]], count: int) -> None:
    assert [page["number"] for page in pages] == list(range(1, count + 1))
    for page, word in zip(pages, WORDS, strict=False):
        assert word in page["text"], page["text"]
        assert [other for other in WORDS if other != word and other in page["text"]] == []


async def member(owner: httpx.AsyncClient, doc: dict[str, Any], person: Person, role: str) -> Person:
    shared = await owner.post(f"{DOCS}/{doc['id']}/shares", json={"email": person.email, "role": role})
    assert shared.status_code == 201, shared.text
    return person


# --- one upload, several photos ------------------------------------------------------------------


async def test_several_photos_make_one_document_whose_pages_are_the_photos_in_order(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await upload_photos(client, 1, 2, 3)

    assert await count(app, Document) == 1
    assert doc["title"] == "IMG_1" and doc["file"]["filename"] == "IMG_1.jpg"
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    pages = await ocr_pages(client, doc)
    assert_pages_read_in_order(pages, 3)
    after = (await client.get(f"{DOCS}/{doc['id']}")).json()
    assert after["content"] == "\n\n".join(page["text"] for page in pages)
    assert (after["ocr"]["pages_total"], after["ocr"]["pages_done"]) == (3, 3)


async def test_each_file_is_listed_and_downloaded_by_its_position(client: httpx.AsyncClient) -> None:
    doc = await upload_photos(client, 1, 2)

    listed = (await client.get(f"{DOCS}/{doc['id']}/files")).json()
    second = await client.get(f"{DOCS}/{doc['id']}/files/2")
    first = await client.get(f"{DOCS}/{doc['id']}/file")

    assert [(f["position"], f["filename"], f["size"]) for f in listed] == [
        (1, "IMG_1.jpg", len(photo(1))),
        (2, "IMG_2.jpg", len(photo(2))),
    ]
    assert second.status_code == 200 and second.content == photo(2)
    assert second.headers["content-type"] == "image/jpeg"
    assert first.status_code == 200 and first.content == photo(1)  # /file: still the first file
    missing = await client.get(f"{DOCS}/{doc['id']}/files/3")
    assert missing.status_code == 404 and missing.json()["code"] == "no_file"


async def test_a_stranger_and_an_anonymous_caller_get_nothing_of_the_files(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient, new_client: ClientFactory
) -> None:
    doc = await upload_photos(client, 1, 2)

    for path in ("files", "files/2"):
        assert (await bob_client.get(f"{DOCS}/{doc['id']}/{path}")).status_code == 404
        assert (await new_client().get(f"{DOCS}/{doc['id']}/{path}")).status_code == 401


# --- refused uploads leave nothing ---------------------------------------------------------------


@pytest.mark.settings(max_files_per_document=2)
async def test_more_files_than_a_document_holds_is_422_and_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(UPLOAD, files=parts(1, 2, 3))

    assert response.status_code == 422
    assert response.json() == {
        "detail": "A document holds at most 2 files",
        "code": "too_many_files",
        "max_files": 2,
    }
    await assert_nothing_left(app)


async def test_a_pdf_among_photos_is_415_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    files = [*parts(1), ("file", ("scan.pdf", pdf_bytes(), "application/pdf"))]

    response = await client.post(UPLOAD, files=files)

    assert response.status_code == 415
    assert response.json()["code"] == "pdf_among_photos"
    await assert_nothing_left(app)


async def test_an_unsupported_part_after_photos_is_415_and_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    files = [*parts(1, 2), ("file", ("notes.txt", b"just some text, not a picture", "text/plain"))]

    response = await client.post(UPLOAD, files=files)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_file_type"
    await assert_nothing_left(app)


async def test_a_photo_in_another_form_field_is_422_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    files = [*parts(1), ("photo", ("IMG_2.jpg", photo(2), "image/jpeg"))]

    response = await client.post(UPLOAD, files=files)

    assert response.status_code == 422
    assert response.json() == {"detail": "Send the files in form fields named 'file'", "code": "validation_error"}
    await assert_nothing_left(app)


async def test_fields_without_a_file_are_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(UPLOAD, files={"title": (None, "no photo")})

    assert response.status_code == 422
    assert response.json() == {"detail": "Send the file in the form field 'file'", "code": "validation_error"}
    await assert_nothing_left(app)


@pytest.mark.settings(max_upload_mb=1, max_upload_request_mb=1)
async def test_files_each_under_the_limit_but_over_it_together_are_413_and_leave_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    head = photo(1)
    half = head + b"\x00" * (600 * 1024 - len(head))  # a JPEG's start, padded: sniffed as one

    response = await client.post(
        UPLOAD, files=[("file", ("a.jpg", half, "image/jpeg")), ("file", ("b.jpg", half, "image/jpeg"))]
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "The upload is larger than 1 MB in all", "code": "request_too_large"}
    await assert_nothing_left(app)


# --- appending photos ----------------------------------------------------------------------------


async def test_an_appended_photo_is_ocrd_alone_and_joins_the_document(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await upload_photos(client, 1, 2)
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"
    before = {row.number: row for row in await rows(app, select(OcrPage).order_by(OcrPage.number))}
    version = (await client.get(f"{DOCS}/{doc['id']}")).json()["version"]

    response = await append(client, doc, 3)

    assert response.status_code == 202, response.text
    appended = response.json()
    assert appended["version"] == version + 1
    assert appended["ocr"]["status"] == "queued"
    assert appended["ocr"]["pages_done"] == 2  # the pages already read are not redone
    (job,) = await rows(app, select(OcrJob))
    assert job.generation == 2
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 2) == "done"

    pages = await ocr_pages(client, doc)
    assert_pages_read_in_order(pages, 3)
    after = {row.number: row for row in await rows(app, select(OcrPage).order_by(OcrPage.number))}
    for number in (1, 2):  # the same rows, written by the first run: not read again
        assert (after[number].created_at, after[number].text) == (before[number].created_at, before[number].text)
    final = (await client.get(f"{DOCS}/{doc['id']}")).json()
    assert final["content"] == "\n\n".join(page["text"] for page in pages)
    assert (final["ocr"]["pages_total"], final["ocr"]["pages_done"]) == (3, 3)
    found = (await client.get("/api/v1/search", params={"q": "Cardamom"})).json()
    assert [(hit["document"]["id"], hit["page"]) for hit in found["items"]] == [(doc["id"], 3)]


async def test_an_append_is_recorded_like_an_edit(app: FastAPI, client: httpx.AsyncClient, alice: dict) -> None:
    doc = await upload_photos(client, 1)

    appended = (await append(client, doc, 2)).json()

    assert appended["version"] == doc["version"] + 1
    assert appended["updated_at"] > doc["updated_at"]
    assert appended["updated_by"] == alice["id"]
    versions = await rows(app, select(DocumentVersion.version, DocumentVersion.author_id))
    assert (appended["version"], uuid.UUID(alice["id"])) in versions
    (event,) = await rows(app, select(AuditEvent).where(AuditEvent.action == "document.pages_added"))
    assert event.details == {"files": 1, "first_position": 2}
    assert str(event.target_id) == doc["id"]


async def test_appending_keeps_content_its_owner_edited(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await upload_photos(client, 1)
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"
    edited = await client.patch(f"{DOCS}/{doc['id']}", json={"content": "my own summary"})
    assert edited.status_code == 200

    assert (await append(client, doc, 2)).status_code == 202
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 2) == "done"

    assert (await client.get(f"{DOCS}/{doc['id']}")).json()["content"] == "my own summary"
    assert_pages_read_in_order(await ocr_pages(client, doc), 2)


async def test_an_editor_may_append_and_a_viewer_may_not(
    app: FastAPI, client: httpx.AsyncClient, new_client: ClientFactory, sign_up: SignUp
) -> None:
    doc = await upload_photos(client, 1)
    editor = await member(client, doc, await sign_up_as(new_client, sign_up, "editor"), "editor")
    viewer = await member(client, doc, await sign_up_as(new_client, sign_up, "viewer"), "viewer")
    objects = stored_objects(app)

    refused = await append(viewer.client, doc, 2)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert stored_objects(app) == objects and await count(app, DocumentFile) == 1

    accepted = await append(editor.client, doc, 2)
    assert accepted.status_code == 202
    assert accepted.json()["role"] == "editor"
    assert await count(app, DocumentFile) == 2


@pytest.mark.settings(max_files_per_document=2)
async def test_refused_appends_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, bob_client: httpx.AsyncClient, new_client: ClientFactory
) -> None:
    doc = await upload_photos(client, 1)
    typed = (await client.post(DOCS, json={"title": "typed"})).json()
    objects = stored_objects(app)
    pdf = [("file", ("scan.pdf", pdf_bytes(), "application/pdf"))]

    cases = [
        (await append(bob_client, doc, 2), 404, "not_found"),
        (await append(new_client(), doc, 2), 401, "not_authenticated"),
        (await append(client, typed, 2), 404, "no_file"),
        (await client.post(f"{DOCS}/{doc['id']}/pages", files=pdf), 415, "pdf_among_photos"),
        (await append(client, doc, 2, 3), 422, "too_many_files"),
        (await client.post(f"{DOCS}/{doc['id']}/pages", files={"title": (None, "x")}), 422, "validation_error"),
    ]

    assert [(r.status_code, r.json()["code"]) for r, _, _ in cases] == [(s, c) for _, s, c in cases]
    assert stored_objects(app) == objects
    assert await count(app, DocumentFile) == 1
    (job,) = await rows(app, select(OcrJob))
    assert job.generation == 1
    assert (await client.get(f"{DOCS}/{doc['id']}")).json()["version"] == doc["version"]


async def test_appending_to_a_trashed_document_is_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    doc = await upload_photos(client, 1)
    assert (await client.delete(f"{DOCS}/{doc['id']}")).status_code == 204

    response = await append(client, doc, 2)

    assert response.status_code == 409 and response.json()["code"] == "document_trashed"
    assert await count(app, DocumentFile) == 1 and len(stored_objects(app)) == 1


# --- copies and purges ---------------------------------------------------------------------------


async def test_a_duplicate_has_every_file_and_page(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await upload_photos(client, 1, 2)
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    copy = (await client.post(f"{DOCS}/{doc['id']}/duplicate")).json()

    listed = (await client.get(f"{DOCS}/{copy['id']}/files")).json()
    assert [f["filename"] for f in listed] == ["IMG_1.jpg", "IMG_2.jpg"]
    assert (await client.get(f"{DOCS}/{copy['id']}/files/2")).content == photo(2)
    assert_pages_read_in_order(await ocr_pages(client, copy), 2)
    assert len(stored_objects(app)) == 8  # each document: two photos and their two flattened pages
    # The copy's objects are its own: purging the source leaves them.
    assert (await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})).status_code == 204
    assert (await client.get(f"{DOCS}/{copy['id']}/files/1")).content == photo(1)


async def test_purging_a_document_deletes_every_stored_file(app: FastAPI, client: httpx.AsyncClient) -> None:
    doc = await upload_photos(client, 1, 2)
    assert (await append(client, doc, 3)).status_code == 202
    assert len(stored_objects(app)) == 3

    assert (await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})).status_code == 204

    assert stored_objects(app) == set()
    assert await count(app, DocumentFile) == 0
