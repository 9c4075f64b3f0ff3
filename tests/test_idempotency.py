"""Idempotent creates: `POST /documents` and the upload sent with an `Idempotency-Key` and retried
answer as the first time, instead of making a second document (app.services.idempotency)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.cli_import import run_import
from app.models import Document, DocumentFile, IdempotencyKey
from app.services.idempotency import prune_expired_keys
from tests.clocks import Clock
from tests.conftest import ClientFactory, SignUp
from tests.sharing_world import png_bytes, stored_objects

DOCS = "/api/v1/documents"
KEY = "6f1c2a4e-create-1"

pytestmark = pytest.mark.usefixtures("clock")


async def rows(app: FastAPI, model: Any) -> int:
    async with app.state.db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def create(
    client: httpx.AsyncClient, key: str = KEY, title: str = "रसिद", content: str = "१००"
) -> httpx.Response:
    return await client.post(DOCS, json={"title": title, "content": content}, headers={"Idempotency-Key": key})


async def test_a_retried_create_gets_the_first_answer_and_no_second_document(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    first = await create(client)
    again = await create(client)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert await rows(app, Document) == 1


async def test_the_same_key_with_another_body_is_refused(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    assert (await create(client, content="१००")).status_code == 201
    other = await create(client, content="२००")

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert await rows(app, Document) == 1


async def test_another_users_same_key_is_their_own(
    app: FastAPI, client: httpx.AsyncClient, bob_client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    mine, theirs = await create(client), await create(bob_client)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["owner_id"] != alice["id"]
    assert await rows(app, Document) == 2


async def test_after_24_hours_the_same_key_makes_a_new_document(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any], clock: Clock
) -> None:
    first = await create(client)
    clock.advance(hours=23, minutes=59)
    assert (await create(client)).json()["id"] == first.json()["id"]

    clock.advance(minutes=1)
    later = await create(client)

    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert await rows(app, Document) == 2


async def test_concurrent_duplicates_make_one_document(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    answers = await asyncio.gather(*(create(client) for _ in range(4)))

    assert [answer.status_code for answer in answers] == [201] * 4
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert await rows(app, Document) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "नेपाली"], ids=["empty", "too-long", "space", "non-ascii"])
async def test_a_malformed_key_is_refused_and_nothing_is_made(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any], key: str
) -> None:
    response = await client.post(DOCS, json={"title": "t"}, headers=[(b"idempotency-key", key.encode())])

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_idempotency_key"
    assert await rows(app, Document) == 0


async def upload(client: httpx.AsyncClient, content: bytes, key: str, title: str = "scan") -> httpx.Response:
    files = {"file": ("scan.png", content, "image/png")}
    return await client.post(f"{DOCS}/upload", files=files, data={"title": title}, headers={"Idempotency-Key": key})


async def test_a_retried_upload_gets_the_first_document_and_stores_one_file(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    scan = png_bytes()
    first = await upload(client, scan, "upload-1")
    again = await upload(client, scan, "upload-1")
    other_file = await upload(client, png_bytes((80, 40)), "upload-1")

    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert other_file.status_code == 422
    assert other_file.json()["code"] == "idempotency_key_reused"
    assert await rows(app, Document) == await rows(app, DocumentFile) == 1
    assert len(stored_objects(app)) == 1


async def test_expired_keys_are_pruned(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, Any], clock: Clock
) -> None:
    await create(client, key="old")
    clock.advance(hours=12)
    await create(client, key="new")
    clock.advance(hours=12, seconds=1)

    assert await prune_expired_keys(db=app.state.db, now=clock.now) == 1
    assert await rows(app, IdempotencyKey) == 1


async def test_an_import_run_twice_makes_one_document_per_file(
    app: FastAPI, alice: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes((64, 32)))
    (folder / "b.png").write_bytes(png_bytes((96, 48)))
    settings = app.state.settings

    for _ in range(2):
        code = await run_import(settings, paths=[folder], owner=alice["email"], languages=None, wait=False)
        assert code == 0

    assert await rows(app, Document) == 2
    assert len(stored_objects(app)) == 2


async def test_without_a_key_each_create_is_a_document(
    app: FastAPI, new_client: ClientFactory, sign_up: SignUp
) -> None:
    client = new_client()
    await sign_up(client)
    for _ in range(2):
        assert (await client.post(DOCS, json={"title": "t"})).status_code == 201
    assert await rows(app, Document) == 2
