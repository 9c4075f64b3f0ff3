"""The search migration: per-engine objects, a backfill of existing documents, a clean downgrade."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.db.migrate import alembic_config, upgrade_to_head
from app.db.session import Database
from app.models import Base, Document, OcrPage
from app.models.base import UTCDateTime
from app.search import _engine as search_engine_of
from app.search import include_name, search, store_index
from app.search._postgres import index_values
from tests.databases import is_postgres


def _migrate(settings: Settings, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config(settings.sqlalchemy_url)
    (command.downgrade if down else command.upgrade)(cfg, revision)


# `users` as the migrations before 0011 made it (the model has columns they do not).
OLD_USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("created_at", UTCDateTime()),
)


async def _add_old_users(session: AsyncSession, *ids: uuid.UUID) -> None:
    rows = [{"id": u, "email": f"{u}@example.com", "password_hash": "x", "created_at": datetime.now(UTC)} for u in ids]
    await session.execute(sa.insert(OLD_USERS), rows)


async def _table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_upgrade_indexes_documents_already_there(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(_migrate, empty_settings, "0003_sharing")
    db = Database(empty_settings.sqlalchemy_url)
    now = datetime.now(UTC)
    owner, document_id = uuid.uuid4(), uuid.uuid4()
    try:
        async with db.unit_of_work() as session:
            await _add_old_users(session, owner)
            session.add(Document(id=document_id, owner_id=owner, title="पुरानो", content="", updated_at=now))
            await session.flush()
            # Only the columns of the schema at 0003 (the model has gained some since).
            await session.execute(
                sa.insert(OcrPage).values(
                    document_id=document_id,
                    number=2,
                    text="काठमाडौंमा २०८१/८२ को बजेट",
                    confidence=1.0,
                    source="ocr",
                    engine="t",
                    languages="nep",
                    created_at=now,
                )
            )

        await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)

        found = {}
        for query in ("काठमाडौं 2081", '"काठमाडौंमा २०८१/८२ को"', '"को बजेटको"'):
            async with db.unit_of_work(write=False) as session:
                page = await search(session, query=query, viewer=owner, limit=10, offset=0)
            found[query] = [(h.document_id, h.page) for h in page.hits]
    finally:
        await db.dispose()

    # Words, and phrases (answered on PostgreSQL from the pairs the later migration adds).
    assert found == {query: [(document_id, 2)] for query in found}


async def _index_as_of_0007(session: Any, document_id: uuid.UUID, *, title: list[str], body: list[str]) -> None:
    """An index row as migrations 0004-0007 left it (PostgreSQL: the tsvectors alone)."""
    if not is_postgres():
        engine = search_engine_of(session)
        await store_index(session, document_id=document_id, values=engine.index_values(title, body))
        return
    columns = ("tsv", "title_tsv", "pairs")
    table = sa.table("search_documents", sa.column("document_id", sa.Uuid), *(sa.column(c) for c in columns))
    values = index_values(title, body)
    await session.execute(
        sa.insert(table).values(document_id=document_id, **{c: sa.cast(values[c], TSVECTOR) for c in columns})
    )


async def test_upgrade_copies_owner_recency_and_trash_into_the_index(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(_migrate, empty_settings, "0007_search_reindex")
    db = Database(empty_settings.sqlalchemy_url)
    owner, other = uuid.uuid4(), uuid.uuid4()
    old, new, trashed, others = (uuid.uuid4() for _ in range(4))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with db.unit_of_work() as session:
            await _add_old_users(session, owner, other)
            for i, (doc, who, trashed_at) in enumerate(
                [(old, owner, None), (new, owner, None), (trashed, owner, t0), (others, other, None)]
            ):
                session.add(
                    Document(
                        id=doc,
                        owner_id=who,
                        title="खबर",
                        content="बजेट",
                        updated_at=t0 + timedelta(days=i),
                        trashed_at=trashed_at,
                    )
                )
                await session.flush()
                await _index_as_of_0007(session, doc, title=["खबर"], body=["बजेट"])

        await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)

        async with db.unit_of_work(write=False) as session:
            page = await search(session, query="बजेट", viewer=owner, limit=10, offset=0)
            everyone = await search(session, query="बजेट", viewer=None, limit=10, offset=0)
            if is_postgres():
                copied = set(
                    (
                        await session.execute(
                            sa.text("SELECT document_id, owner_id, updated_at, trashed_at FROM search_documents")
                        )
                    ).all()
                )
    finally:
        await db.dispose()

    assert [h.document_id for h in page.hits] == [new, old] and page.total == 2
    assert [h.document_id for h in everyone.hits] == [others, new, old]
    if is_postgres():
        assert copied == {
            (old, owner, t0, None),
            (new, owner, t0 + timedelta(days=1), None),
            (trashed, owner, t0 + timedelta(days=2), t0),
            (others, other, t0 + timedelta(days=3), None),
        }


async def test_upgrade_reindexes_documents_tokenized_the_old_way(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(_migrate, empty_settings, "0006_search_pairs_title")
    db = Database(empty_settings.sqlalchemy_url)
    owner, document_id = uuid.uuid4(), uuid.uuid4()
    try:
        async with db.unit_of_work() as session:
            await _add_old_users(session, owner)
            content = "बागमती नदीमा बाढी"
            session.add(
                Document(id=document_id, owner_id=owner, title="खबर", content=content, updated_at=datetime.now(UTC))
            )
            await session.flush()
            # As the tokenizer before 0007 indexed it: Snowball's one-letter stem of नदीमा.
            await _index_as_of_0007(session, document_id, title=["खबर"], body=["बागमती", "न", "बाढी"])

        await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)

        found = {}
        for query in ("नदी", "नदीमा", "न", '"बागमती नदी"'):
            async with db.unit_of_work(write=False) as session:
                page = await search(session, query=query, viewer=owner, limit=10, offset=0)
            found[query] = [h.document_id for h in page.hits]
    finally:
        await db.dispose()

    assert found == {"नदी": [document_id], "नदीमा": [document_id], "न": [], '"बागमती नदी"': [document_id]}


def _schema_diff(conn: sa.Connection) -> list[Any]:
    opts = {"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite", "include_name": include_name}
    return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)


async def test_models_match_migrations_with_search_tables_left_out(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)
    db = Database(empty_settings.sqlalchemy_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
    finally:
        await db.dispose()

    assert diff == []


async def test_downgrade_removes_the_search_tables(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)
    await anyio.to_thread.run_sync(lambda: _migrate(empty_settings, "0003_sharing", down=True))
    db = Database(empty_settings.sqlalchemy_url)
    try:
        names = await _table_names(db)
    finally:
        await db.dispose()

    assert not {n for n in names if n.startswith("search_")}
    assert "documents" in names
