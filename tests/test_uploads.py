"""Uploads: streamed to storage, typed by content, refused cleanly; the original file comes back."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from app.models import Document, DocumentFile, OcrJob
from app.ocr import installed_languages, tessdata_dir
from tests.conftest import ClientFactory

UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"

pytestmark = [pytest.mark.usefixtures("alice"), pytest.mark.settings(max_upload_mb=1, max_upload_request_mb=3)]


def png_bytes(size: tuple[int, int] = (64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header declares a huge image (decompression bomb), with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(model))


def stored_objects(app: FastAPI) -> list[Path]:
    root = app.state.settings.data_dir / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def assert_nothing_left(app: FastAPI) -> None:
    assert await count(app, Document) == 0
    assert await count(app, DocumentFile) == 0
    assert await count(app, OcrJob) == 0
    assert stored_objects(app) == []


async def upload(
    client: httpx.AsyncClient, content: bytes, filename: str = "scan.png", **fields: str
) -> httpx.Response:
    return await client.post(UPLOAD, files={"file": (filename, content, "image/png")}, data=fields)


# --- accepted ---------------------------------------------------------------------------------


async def test_upload_returns_202_with_the_document_queued_for_ocr(app: FastAPI, client: httpx.AsyncClient) -> None:
    content = png_bytes()

    response = await upload(client, content, filename="नागरिकता प्रमाणपत्र.png")

    assert response.status_code == 202, response.text
    doc = response.json()
    assert doc["title"] == "नागरिकता प्रमाणपत्र"
    assert doc["content"] == ""
    assert doc["file"] == {
        "filename": "नागरिकता प्रमाणपत्र.png",
        "size": len(content),
        "content_type": "image/png",
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert doc["ocr"]["status"] == "queued"
    assert doc["ocr"]["languages"] == "nep+eng"
    assert doc["ocr"]["pages_done"] == 0
    assert [p.read_bytes() for p in stored_objects(app)] == [content]


async def test_upload_takes_title_and_languages(client: httpx.AsyncClient) -> None:
    response = await upload(client, png_bytes(), title="मेरो कागज", languages="eng")

    assert response.status_code == 202
    assert response.json()["title"] == "मेरो कागज"
    assert response.json()["ocr"]["languages"] == "eng"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("TIFF", "image/tiff"),
        ("WEBP", "image/webp"),
        ("HEIF", "image/heic"),
        ("PDF", "application/pdf"),
    ],
)
async def test_type_is_detected_from_the_bytes_not_the_name(
    client: httpx.AsyncClient, fmt: str, media_type: str
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(buffer, format=fmt)

    response = await upload(client, buffer.getvalue(), filename="misnamed.txt")

    assert response.status_code == 202, response.text
    assert response.json()["file"]["content_type"] == media_type


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\ram\\scan.png", "scan.png"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
    ],
)
async def test_client_file_name_is_kept_only_as_sanitized_metadata(
    app: FastAPI, client: httpx.AsyncClient, raw: str, expected: str
) -> None:
    response = await upload(client, png_bytes(), filename=raw)

    assert response.status_code == 202
    assert response.json()["file"]["filename"] == expected
    (stored,) = stored_objects(app)
    assert expected not in str(stored) and "passwd" not in str(stored)


async def test_control_characters_in_a_raw_file_name_are_dropped(client: httpx.AsyncClient) -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="be\x07ll\x1b.png"\r\n\r\n'
        + png_bytes()
        + b"\r\n--XyZ--\r\n"
    )
    response = await client.post(UPLOAD, content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})

    assert response.status_code == 202, response.text
    assert response.json()["file"]["filename"] == "bell.png"


# --- refused: 4xx and nothing left behind -----------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"hello, this is plain text",
        b"GIF89a" + b"\x00" * 64,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"PK\x03\x04zip",
    ],
    ids=["text", "gif", "svg", "zip"],
)
async def test_unsupported_content_is_415_and_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient, content: bytes
) -> None:
    response = await upload(client, content, filename="looks-like.png")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_file_type"
    await assert_nothing_left(app)


async def test_empty_file_is_422_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await upload(client, b"")

    assert response.status_code == 422
    assert response.json()["code"] == "empty_file"
    await assert_nothing_left(app)


async def test_decompression_bomb_header_is_422_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await upload(client, bomb_png())

    assert response.status_code == 422
    assert response.json()["code"] == "image_too_large"
    await assert_nothing_left(app)


async def test_language_not_installed_is_422_listing_installed_ones(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await upload(client, png_bytes(), languages="nep+klingon")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "language_not_installed"
    assert "klingon" in body["detail"]
    assert "apt-get install tesseract-ocr-eng tesseract-ocr-nep tesseract-ocr-klingon" in body["detail"]
    assert "klingon.traineddata" in body["detail"]
    assert body["installed_languages"] == installed_languages(tessdata_dir())
    await assert_nothing_left(app)


@pytest.mark.parametrize("languages", ["nep;rm -rf", "../eng", "x" * 65])
async def test_malformed_languages_are_422(app: FastAPI, client: httpx.AsyncClient, languages: str) -> None:
    response = await upload(client, png_bytes(), languages=languages)

    assert response.status_code == 422
    await assert_nothing_left(app)


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({"document": ("a.png", png_bytes(), "image/png")}, {}),
        ({"title": (None, "no file")}, {}),
        ({"file": ("a.png", png_bytes(), "image/png")}, {"owner_id": "someone"}),
        ({"file": ("a.png", png_bytes(), "image/png")}, {"title": "x" * 256}),
        ({"file": ("a.png", png_bytes(), "image/png")}, {"title": "bad\x00title"}),
    ],
    ids=["wrong-field", "no-file", "unknown-field", "long-title", "nul-title"],
)
async def test_malformed_upload_forms_are_422_and_leave_nothing(
    app: FastAPI, client: httpx.AsyncClient, files: dict, data: dict
) -> None:
    response = await client.post(UPLOAD, files=files, data=data)

    assert response.status_code in (400, 422), response.text
    assert isinstance(response.json()["detail"], str)
    await assert_nothing_left(app)


async def test_a_body_that_is_not_multipart_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(UPLOAD, json={"file": "data"})

    assert response.status_code == 415


async def test_truncated_multipart_body_is_refused_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + png_bytes()
    response = await client.post(UPLOAD, content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})

    assert response.status_code == 400
    await assert_nothing_left(app)


def big_png_prefix(total: int) -> bytes:
    head = png_bytes()
    return head + b"\x00" * (total - len(head))


async def test_file_over_max_upload_is_413_and_leaves_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await upload(client, big_png_prefix(1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    await assert_nothing_left(app)


async def test_file_of_exactly_max_upload_is_accepted(client: httpx.AsyncClient) -> None:
    response = await upload(client, big_png_prefix(1024 * 1024))

    assert response.status_code == 202
    assert response.json()["file"]["size"] == 1024 * 1024


async def test_streamed_upload_without_content_length_is_cut_at_the_limit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    boundary = b"B0undary"
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    sent = 0

    async def body():
        nonlocal sent
        yield head + png_bytes()
        for _ in range(64):  # up to 4 MiB, well past the 1 MiB limit
            sent += 1
            yield b"\x00" * 65536
        yield b"\r\n--" + boundary + b"--\r\n"

    response = await client.post(
        UPLOAD, content=body(), headers={"content-type": "multipart/form-data; boundary=B0undary"}
    )

    assert response.status_code == 413
    assert sent < 64  # the server stopped reading soon after the limit
    await assert_nothing_left(app)


async def test_a_lying_content_length_is_refused_at_once(client: httpx.AsyncClient) -> None:
    response = await client.post(
        UPLOAD,
        content=b"x",
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(50 * 1024 * 1024)},
    )

    assert response.status_code == 413


# --- who may upload and download ----------------------------------------------------------------


async def test_upload_without_a_session_is_401_and_leaves_nothing(app: FastAPI, new_client: ClientFactory) -> None:
    response = await upload(new_client(), png_bytes())

    assert response.status_code == 401
    await assert_nothing_left(app)


async def test_cross_site_upload_is_403(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(
        UPLOAD, files={"file": ("a.png", png_bytes(), "image/png")}, headers={"origin": "http://evil.example"}
    )

    assert response.status_code == 403
    await assert_nothing_left(app)


async def test_owner_downloads_the_original_bytes(client: httpx.AsyncClient) -> None:
    content = png_bytes((200, 100))
    doc = (await upload(client, content, filename="नेपाली नाम.png")).json()

    response = await client.get(f"{DOCS}/{doc['id']}/file")

    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E0%A4%A8%E0%A5%87%E0%A4%AA%E0%A4%BE%E0%A4%B2%E0%A5%80%20" in disposition


async def test_stranger_gets_404_for_the_file_and_ocr(client: httpx.AsyncClient, bob_client: httpx.AsyncClient) -> None:
    doc = (await upload(client, png_bytes())).json()

    for path in ("file", "ocr"):
        assert (await bob_client.get(f"{DOCS}/{doc['id']}/{path}")).status_code == 404
    assert (await bob_client.post(f"{DOCS}/{doc['id']}/ocr", json={})).status_code == 404


async def test_anonymous_gets_401_for_the_file_and_ocr(client: httpx.AsyncClient, new_client: ClientFactory) -> None:
    doc = (await upload(client, png_bytes())).json()
    anonymous = new_client()

    for path in ("file", "ocr"):
        assert (await anonymous.get(f"{DOCS}/{doc['id']}/{path}")).status_code == 401
    assert (await anonymous.post(f"{DOCS}/{doc['id']}/ocr", json={})).status_code == 401


async def test_a_document_without_a_file_has_no_file_or_ocr(client: httpx.AsyncClient) -> None:
    doc = (await client.post(DOCS, json={"title": "typed"})).json()

    assert doc["file"] is None and doc["ocr"] is None
    assert (await client.get(f"{DOCS}/{doc['id']}/file")).status_code == 404
    assert (await client.get(f"{DOCS}/{doc['id']}/ocr")).status_code == 404
    assert (await client.post(f"{DOCS}/{doc['id']}/ocr", json={})).status_code == 404


async def test_deleting_a_document_deletes_its_stored_file(app: FastAPI, client: httpx.AsyncClient) -> None:
    doc = (await upload(client, png_bytes())).json()
    assert len(stored_objects(app)) == 1

    assert (await client.delete(f"{DOCS}/{doc['id']}")).status_code == 204  # to the trash: the file stays
    assert len(stored_objects(app)) == 1
    assert (await client.delete(f"{DOCS}/{doc['id']}", params={"permanent": "true"})).status_code == 204

    assert stored_objects(app) == []
    assert await count(app, DocumentFile) == 0


async def test_rerun_while_queued_is_409(client: httpx.AsyncClient) -> None:
    doc = (await upload(client, png_bytes())).json()

    response = await client.post(f"{DOCS}/{doc['id']}/ocr", json={})

    assert response.status_code == 409
    assert response.json()["code"] == "ocr_in_progress"


async def test_rerun_with_bad_body_is_422(client: httpx.AsyncClient) -> None:
    doc = (await upload(client, png_bytes())).json()

    response = await client.post(f"{DOCS}/{doc['id']}/ocr", json={"languages": "eng", "extra": 1})

    assert response.status_code == 422
