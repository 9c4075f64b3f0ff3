"""The page a user sees: a photo's page flattened by the photo stage, stored when it is read; a
scan's or PDF's page drawn from the original on first request and kept; both under the file's
visibility, with an ETag, removed with the document and copied with it."""

from __future__ import annotations

import io
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from app.models import OcrPage
from app.ocr import flatten_photo
from app.services.ocr_pipeline import OcrDeps, run_ocr_job
from tests.conftest import ClientFactory
from tests.ocr.pages import render_page
from tests.ocr.photos import Distortions, photograph

pytestmark = pytest.mark.usefixtures("alice")
UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"
A5 = (1748, 2480)
LANDSCAPE_FRAME = (2000, 1500)  # the phone held sideways: a portrait page in a landscape photo


@cache
def page() -> Image.Image:
    image, _ = render_page(["Page pictures", "The Elephant paragraph of this letter."], min_height=A5[1])
    return image


@cache
def photo_jpeg() -> bytes:
    buffer = io.BytesIO()
    picture = photograph(page(), Distortions(tilt=15, gradient=0.3, jpeg_quality=85), seed=5, size=LANDSCAPE_FRAME)
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def scan_png() -> bytes:
    buffer = io.BytesIO()
    page().save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


def two_page_pdf() -> bytes:
    buffer = io.BytesIO()
    page().save(buffer, format="PDF", resolution=300, save_all=True, append_images=[page()])
    return buffer.getvalue()


async def read(client: httpx.AsyncClient, deps: OcrDeps, content: bytes, filename: str) -> dict[str, Any]:
    response = await client.post(UPLOAD, files={"file": (filename, content)}, data={"languages": "eng"})
    assert response.status_code == 202, response.text
    doc = response.json()
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"
    return doc


def image_url(doc: dict[str, Any], number: int = 1) -> str:
    return f"{DOCS}/{doc['id']}/pages/{number}/image"


def stored_objects(app: FastAPI) -> set[Path]:
    root = app.state.settings.data_dir / "files"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def image_keys(app: FastAPI) -> list[str | None]:
    async with app.state.db.engine.connect() as conn:
        return list((await conn.scalars(select(OcrPage.image_key).order_by(OcrPage.number))).all())


def picture(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


async def test_a_photos_page_is_shown_as_the_photo_stage_flattened_it(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await read(client, deps, photo_jpeg(), "IMG_7.jpg")
    flattened = flatten_photo(Image.open(io.BytesIO(photo_jpeg())).convert("RGB"))
    assert flattened.kind == "page"

    response = await client.get(image_url(doc))

    shown = picture(response)
    assert shown.size == flattened.image.size  # the warped page, not the 2000 x 1500 photo
    assert shown.height / shown.width == pytest.approx(A5[1] / A5[0], rel=0.1)
    assert np.array_equal(np.asarray(shown.convert("L")), np.asarray(flattened.image))
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["etag"].startswith('"')
    assert len(stored_objects(app)) == 2  # the photo, and its page stored by the worker
    # The original photo is still the file.
    assert (await client.get(f"{DOCS}/{doc['id']}/file")).content == photo_jpeg()


async def test_a_known_etag_gets_304(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await read(client, deps, photo_jpeg(), "IMG_7.jpg")
    etag = (await client.get(image_url(doc))).headers["etag"]

    again = await client.get(image_url(doc), headers={"if-none-match": etag})

    assert again.status_code == 304
    assert again.headers["etag"] == etag and again.content == b""


async def test_a_scan_is_drawn_from_the_original_once_and_kept(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await read(client, deps, scan_png(), "scan.png")
    assert await image_keys(app) == [None]  # a flat scan is left as it is: nothing stored by the worker

    first = await client.get(image_url(doc))
    second = await client.get(image_url(doc))

    shown = picture(first)
    assert max(shown.size) <= 2000
    assert shown.height / shown.width == pytest.approx(A5[1] / A5[0], rel=0.01)
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    (key,) = await image_keys(app)
    assert key is not None and first.headers["etag"] == f'"{key.rsplit("/", 1)[-1]}"'
    assert len(stored_objects(app)) == 2


async def test_each_pdf_page_is_drawn_on_request(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await read(client, deps, two_page_pdf(), "two.pdf")

    shown = picture(await client.get(image_url(doc, 2)))

    assert shown.height / shown.width == pytest.approx(A5[1] / A5[0], rel=0.01)
    first, second = await image_keys(app)
    assert first is None and second is not None  # drawn for the page asked for alone


async def test_a_page_not_read_yet_is_404(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    response = await client.post(UPLOAD, files={"file": ("scan.png", scan_png())})
    doc = response.json()

    before = await client.get(image_url(doc))
    assert before.status_code == 404
    assert before.json() == {"detail": "This page has not been read yet", "code": "no_page"}
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"
    assert (await client.get(image_url(doc, 2))).status_code == 404
    assert (await client.get(image_url(doc, 0))).status_code == 422


async def test_strangers_get_404_and_anonymous_callers_401(
    client: httpx.AsyncClient, bob_client: httpx.AsyncClient, new_client: ClientFactory, deps: OcrDeps
) -> None:
    doc = await read(client, deps, photo_jpeg(), "IMG_7.jpg")

    stranger = await bob_client.get(image_url(doc))
    anonymous = await new_client().get(image_url(doc))

    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    assert anonymous.status_code == 401


async def test_purging_removes_the_pages_pictures_too(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    photos = await read(client, deps, photo_jpeg(), "IMG_7.jpg")
    scan = await read(client, deps, scan_png(), "scan.png")
    assert (await client.get(image_url(scan))).status_code == 200
    assert len(stored_objects(app)) == 4  # two files, two pictures

    for doc in (photos, scan):
        assert (await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})).status_code == 204

    assert stored_objects(app) == set()


async def test_a_duplicate_has_pictures_of_its_own(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await read(client, deps, photo_jpeg(), "IMG_7.jpg")
    source = await client.get(image_url(doc))

    copy = (await client.post(f"{DOCS}/{doc['id']}/duplicate")).json()
    assert (await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})).status_code == 204
    copied = await client.get(image_url(copy))

    assert copied.content == source.content
    assert copied.headers["etag"] != source.headers["etag"]
    assert len(stored_objects(app)) == 2  # the copy's file and picture


async def test_running_ocr_again_replaces_the_pictures(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await read(client, deps, photo_jpeg(), "IMG_7.jpg")
    before = (await client.get(image_url(doc))).headers["etag"]

    assert (await client.post(f"{DOCS}/{doc['id']}/ocr", json={})).status_code == 202
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 2) == "done"

    after = await client.get(image_url(doc))
    assert after.status_code == 200 and after.headers["etag"] != before
    assert len(stored_objects(app)) == 2  # the file and the new picture: the old one is gone
