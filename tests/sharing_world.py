"""A small world for sharing tests: an owner, an editor, a viewer, a stranger and an anonymous
browser, each with its own client; a document the owner uploaded and shared; the audit table as
rows; and the OCR pipeline run in-process on the real engine."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from app.models import AuditEvent
from app.models.base import utcnow
from app.ocr import OcrEngine
from app.services.ocr_pipeline import OcrDeps, run_ocr_job
from tests.conftest import ClientFactory, Person, SignUp, unique_email

API = "/api/v1"
DOCS = f"{API}/documents"
ROLES = ("owner", "editor", "viewer", "stranger", "anonymous")


@dataclass(frozen=True)
class World:
    owner: Person
    editor: Person
    viewer: Person
    stranger: Person
    anonymous: httpx.AsyncClient

    def client(self, role: str) -> httpx.AsyncClient:
        return self.anonymous if role == "anonymous" else getattr(self, role).client


async def build_world(new_client: ClientFactory, sign_up: SignUp) -> World:
    """Four signed-up browsers and one without a session (signed up concurrently: hashing is slow)."""
    names = ("owner", "editor", "viewer", "stranger")
    clients = [new_client() for _ in names]
    users = await asyncio.gather(*(sign_up(c, email=unique_email(n)) for c, n in zip(clients, names, strict=True)))
    people = {n: Person(c, u["id"], u["email"]) for n, c, u in zip(names, clients, users, strict=True)}
    return World(**people, anonymous=new_client())


def png_bytes(size: tuple[int, int] = (64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


def text_png(text: str = "Hello Kathmandu") -> bytes:
    """A small scan with a line of English on it: quick for Tesseract to read."""
    image = Image.new("L", (520, 90), 255)
    ImageDraw.Draw(image).text((20, 20), text, fill=0, font=ImageFont.load_default(size=40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient, content: bytes | None = None, filename: str = "scan.png", **fields: str
) -> dict[str, Any]:
    response = await client.post(
        f"{DOCS}/upload", files={"file": (filename, content or png_bytes(), "image/png")}, data=fields
    )
    assert response.status_code == 202, response.text
    return response.json()


async def create_doc(client: httpx.AsyncClient, title: str = "Budget notes", content: str = "") -> dict[str, Any]:
    response = await client.post(DOCS, json={"title": title, "content": content})
    assert response.status_code == 201, response.text
    return response.json()


async def share(owner: httpx.AsyncClient, doc_id: str, email: str, role: str) -> dict[str, Any]:
    response = await owner.post(f"{DOCS}/{doc_id}/shares", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return response.json()


async def shared_document(
    owner: Person, editor: Person, viewer: Person, content: bytes | None = None, **fields: str
) -> dict[str, Any]:
    """An upload by the owner, shared with the editor (as editor) and the viewer (as viewer)."""
    doc = await upload(owner.client, content, **fields)
    await share(owner.client, doc["id"], editor.email, "editor")
    await share(owner.client, doc["id"], viewer.email, "viewer")
    return doc


async def create_link(owner: httpx.AsyncClient, doc_id: str, **fields: Any) -> dict[str, Any]:
    response = await owner.post(f"{DOCS}/{doc_id}/links", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def audit_rows(app: FastAPI, action: str | None = None, **where: Any) -> list[Any]:
    """Audit events in the order written, optionally of one action and with given column values."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, column) == value)
    async with app.state.db.engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


def stored_objects(app: FastAPI) -> set[Path]:
    root = app.state.settings.data_dir / "files"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def ocr_deps(app: FastAPI, engine: OcrEngine) -> OcrDeps:
    async def no_enqueue(document_id: uuid.UUID, generation: int, delay: float | None) -> None:
        return None

    return OcrDeps(
        settings=app.state.settings,
        db=app.state.db,
        storage=app.state.storage,
        engine=lambda: engine,
        enqueue=no_enqueue,
        clock=utcnow,
    )


async def run_ocr(app: FastAPI, engine: OcrEngine, doc_id: str, generation: int = 1) -> str:
    """Run one document's queued OCR job to its end, as the worker would."""
    return await run_ocr_job(ocr_deps(app, engine), uuid.UUID(doc_id), generation)
