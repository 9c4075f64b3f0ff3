"""Search fixtures: users and documents made with the ORM in a migrated database, indexed through
the search face as the services will do it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from app.db.session import Database
from app.models import Document, OcrPage, User
from app.search import SearchPage, index_document, search

_emails = itertools.count(1)
_clock = itertools.count(1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

AddDocument = Callable[..., Awaitable[uuid.UUID]]
Find = Callable[..., Awaitable[SearchPage]]


@pytest.fixture
def db(app: FastAPI) -> Database:
    return app.state.db


async def make_user(db: Database) -> uuid.UUID:
    async with db.unit_of_work() as session:
        user = User(email=f"searcher{next(_emails)}@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        return user.id


@pytest.fixture
async def owner(db: Database) -> uuid.UUID:
    return await make_user(db)


@pytest.fixture
def add_document(db: Database, owner: uuid.UUID) -> AddDocument:
    """Store a document (and its OCR pages) and index it; each is newer than the one before."""

    async def _add(
        title: str,
        content: str = "",
        pages: Sequence[tuple[int, str]] = (),
        *,
        owner_id: uuid.UUID | None = None,
        updated_at: datetime | None = None,
    ) -> uuid.UUID:
        now = updated_at or T0 + timedelta(minutes=next(_clock))
        async with db.unit_of_work() as session:
            document = Document(
                owner_id=owner_id or owner, title=title, content=content, created_at=now, updated_at=now
            )
            session.add(document)
            await session.flush()
            for number, text in pages:
                session.add(
                    OcrPage(
                        document_id=document.id,
                        number=number,
                        text=text,
                        confidence=90.0,
                        source="ocr",
                        engine="test",
                        languages="nep+eng",
                    )
                )
            await index_document(session, document_id=document.id, title=title, content=content, pages=list(pages))
            return document.id

    return _add


@pytest.fixture
def find(db: Database, owner: uuid.UUID) -> Find:
    """Search as `owner` (or as `viewer`; `everyone=True`: every document not in the trash)."""

    async def _find(
        query: str, *, viewer: uuid.UUID | None = None, everyone: bool = False, limit: int = 20, offset: int = 0
    ) -> SearchPage:
        async with db.unit_of_work(write=False) as session:
            return await search(
                session, query=query, viewer=None if everyone else viewer or owner, limit=limit, offset=offset
            )

    return _find
