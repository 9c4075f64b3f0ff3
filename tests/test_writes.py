"""Each document write (app.services.document_writes) is one list of statements with two
compositions: one statement of data-modifying CTEs (PostgreSQL's) and the statements in sequence
(every other engine's). Both run here on one PostgreSQL database and must leave the same rows,
ids and times aside. The in-sequence composition also runs on SQLite in every other test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app import search
from app.db.writes import Write
from app.models import AuditEvent, Document, DocumentRecent, DocumentVersion, User
from app.search._tables import postgres_documents
from app.services import document_writes
from app.services.audit import Actor, event_values
from tests.processes import postgres_database, require_postgres

T0 = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
_NOT_COMPARED = {"id", "document_id", "target_id", "occurred_at", "created_at", "updated_at", "seen_at"}
Composition = Callable[[Write, AsyncConnection, dict[str, Any]], Any]
COMPOSITIONS: dict[str, Composition] = {
    "one statement": lambda write, conn, params: write.run_as_one(conn, params),
    "in sequence": lambda write, conn, params: write.run_in_sequence(conn, params),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_postgres()
    with postgres_database(tmp_path_factory.mktemp("writes")) as url:
        yield url


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    made = create_async_engine(sa.make_url(database).set(drivername="postgresql+asyncpg"))
    try:
        yield made
    finally:
        await made.dispose()


@pytest.fixture
async def owner(engine: AsyncEngine) -> Actor:
    actor = Actor(id=uuid.uuid4(), email=f"writer-{uuid.uuid4().hex[:8]}@example.com")
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(User).values(
                id=actor.id, email=actor.email, email_key=actor.email, password_hash="x", created_at=T0
            )
        )
    return actor


async def _create(conn: AsyncConnection, how: Composition, owner: Actor, document_id: uuid.UUID) -> Any:
    title, content = "बजेट २०८१/८२", "नगरपालिकाको वार्षिक बजेट र कार्यक्रम"
    params = document_writes.create_params(
        document_id=document_id,
        owner_id=owner.id,
        title=title,
        content=content,
        now=T0,
        index=search.make_index_values("postgresql", title, content, []),
        event=event_values("document.create", actor=owner, target=("document", document_id)),
    )
    return await how(document_writes.create("postgresql"), conn, params)


async def _edit(conn: AsyncConnection, how: Composition, owner: Actor, document_id: uuid.UUID, version: int) -> Any:
    title, content = "बजेट २०८१/८२ (संशोधित)", "संशोधित बजेट: शिक्षा र स्वास्थ्य"
    params = document_writes.edit_params(
        document_id=document_id,
        read_version=version,
        page_count=0,
        title=title,
        content=content,
        author_id=owner.id,
        now=T0 + timedelta(minutes=5),
        index=search.make_index_values("postgresql", title, content, []),
        event=event_values(
            "document.update",
            actor=owner,
            target=("document", document_id),
            details={"fields": ["content", "title"], "version": version + 1},
        ),
    )
    return await how(document_writes.edit("postgresql"), conn, params)


async def _rows(conn: AsyncConnection, document_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row the writes leave for one document, without ids and times, in a stable order."""
    tables: dict[str, sa.Select[Any]] = {
        "documents": sa.select(Document.__table__).where(Document.id == document_id),
        "versions": sa.select(DocumentVersion.__table__)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.version),
        "index": sa.select(
            *(
                c if c.name not in ("tsv", "title_tsv", "pairs") else sa.cast(c, sa.Text).label(c.name)
                for c in postgres_documents.c
            )
        ).where(postgres_documents.c.document_id == document_id),
        "events": sa.select(AuditEvent.__table__)
        .where(AuditEvent.target_id == str(document_id))
        .order_by(AuditEvent.id),
        "recent": sa.select(DocumentRecent.__table__).where(DocumentRecent.document_id == document_id),
    }
    found = {}
    for name, query in tables.items():
        rows = (await conn.execute(query)).mappings().all()
        found[name] = [{k: v for k, v in row.items() if k not in _NOT_COMPARED} for row in rows]
    return found


async def test_both_compositions_of_create_and_edit_write_the_same_rows(engine: AsyncEngine, owner: Actor) -> None:
    ids = {how: uuid.uuid4() for how in COMPOSITIONS}
    after: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {"create": {}, "edit": {}}
    async with engine.begin() as conn:
        for how, document_id in ids.items():
            created = await _create(conn, COMPOSITIONS[how], owner, document_id)
            assert created["id"] == document_id and created["version"] == 1
            after["create"][how] = await _rows(conn, document_id)
        for how, document_id in ids.items():
            edited = await _edit(conn, COMPOSITIONS[how], owner, document_id, version=1)
            assert edited["version"] == 2
            after["edit"][how] = await _rows(conn, document_id)

    one, sequence = after["create"].values()
    assert one == sequence
    assert {name: len(rows) for name, rows in one.items()} == {
        "documents": 1,
        "versions": 1,
        "index": 1,
        "events": 1,
        "recent": 0,
    }
    assert one["versions"][0]["content"] == "नगरपालिकाको वार्षिक बजेट र कार्यक्रम"
    assert one["events"][0]["action"] == "document.create"

    one, sequence = after["edit"].values()
    assert one == sequence
    assert [v["version"] for v in one["versions"]] == [1, 2]
    assert [e["action"] for e in one["events"]] == ["document.create", "document.update"]
    assert one["recent"] == [{"user_id": owner.id}]
    assert one["index"][0]["title_tsv"] != after["create"]["one statement"]["index"][0]["title_tsv"]


@pytest.mark.parametrize("how", list(COMPOSITIONS))
async def test_an_edit_of_a_version_that_moved_on_writes_nothing(engine: AsyncEngine, owner: Actor, how: str) -> None:
    document_id = uuid.uuid4()
    async with engine.begin() as conn:
        await _create(conn, COMPOSITIONS[how], owner, document_id)
        before = await _rows(conn, document_id)
        assert await _edit(conn, COMPOSITIONS[how], owner, document_id, version=7) is None
        assert await _rows(conn, document_id) == before
