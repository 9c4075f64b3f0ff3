"""The Alembic migrations build exactly the schema the models describe, both ways, from code and CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings
from app.db.migrate import PROJECT_ROOT, alembic_config, upgrade_to_head
from app.models import Base
from app.models.base import UTCDateTime
from app.search import include_name
from tests.conftest import make_settings
from tests.processes import postgres_database, require_postgres

APP_TABLES = {"users", "sessions", "documents"}


async def _inspect(settings: Settings, fn: Any) -> Any:
    engine = create_async_engine(settings.sqlalchemy_url, poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _table_names(settings: Settings) -> set[str]:
    return set(asyncio.run(_inspect(settings, lambda conn: sa.inspect(conn).get_table_names())))


def _schema_diff(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "render_as_batch": conn.dialect.name == "sqlite",
            "include_name": include_name,
        },
    )
    return compare_metadata(context, Base.metadata)


async def test_migrated_schema_matches_the_models(empty_settings: Settings) -> None:
    await anyio.to_thread.run_sync(upgrade_to_head, empty_settings)

    diff = await _inspect(empty_settings, _schema_diff)

    assert diff == []


async def test_schema_check_notices_a_missing_table(empty_settings: Settings) -> None:
    """The comparison above can fail: a database without the migrations differs from the models."""
    diff = await _inspect(empty_settings, _schema_diff)

    added = {d[1].name for d in diff if d[0] == "add_table"}
    assert added >= APP_TABLES


def test_upgrade_creates_the_tables(empty_settings: Settings) -> None:
    upgrade_to_head(empty_settings)

    assert _table_names(empty_settings) >= APP_TABLES


def test_upgrade_twice_is_a_no_op(empty_settings: Settings) -> None:
    upgrade_to_head(empty_settings)
    upgrade_to_head(empty_settings)

    assert _table_names(empty_settings) >= APP_TABLES


def test_downgrade_to_base_removes_the_tables(empty_settings: Settings) -> None:
    upgrade_to_head(empty_settings)

    command.downgrade(alembic_config(empty_settings.sqlalchemy_url), "base")

    assert not APP_TABLES & _table_names(empty_settings)


def test_upgrade_after_downgrade_restores_the_tables(empty_settings: Settings) -> None:
    upgrade_to_head(empty_settings)
    command.downgrade(alembic_config(empty_settings.sqlalchemy_url), "base")

    upgrade_to_head(empty_settings)

    assert _table_names(empty_settings) >= APP_TABLES


def _alembic(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "POSTGRES_", "ENV"))}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        ["uv", "run", "alembic", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_alembic_cli_upgrades_sqlite_under_data_dir_and_reports_head(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    upgrade = _alembic("upgrade", "head", data_dir=data_dir)
    current = _alembic("current", data_dir=data_dir)

    assert upgrade.returncode == 0, upgrade.stderr
    assert (data_dir / "lekhamudra.db").is_file()
    assert current.returncode == 0, current.stderr
    head = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()
    assert f"{head} (head)" in current.stdout


def test_the_email_key_is_filled_from_the_stored_addresses_which_stay_as_they_were(empty_settings: Settings) -> None:
    """Rows written before 0011 (addresses folded by the old rule, or set by hand) get their key."""
    cfg = alembic_config(empty_settings.sqlalchemy_url)
    command.upgrade(cfg, "0010_search_gin_pending_list")
    stored = ["ram@example.com", "Admin@Example.COM", "strasse@example.com", "σοφία@example.gr"]
    old_users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )

    def insert(conn: sa.Connection) -> None:
        now = datetime.now(UTC)
        rows = [{"id": uuid.uuid4(), "email": e, "password_hash": "x", "created_at": now} for e in stored]
        conn.execute(sa.insert(old_users), rows)
        conn.commit()

    def read(conn: sa.Connection) -> set[tuple[str, ...]]:
        present = {c["name"] for c in sa.inspect(conn).get_columns("users")}
        columns = [sa.column(name) for name in ("email", "email_key") if name in present]
        return {tuple(row) for row in conn.execute(sa.select(*columns).select_from(sa.table("users")))}

    asyncio.run(_inspect(empty_settings, insert))
    upgrade_to_head(empty_settings)
    upgraded = asyncio.run(_inspect(empty_settings, read))
    command.downgrade(cfg, "0010_search_gin_pending_list")
    downgraded = asyncio.run(_inspect(empty_settings, read))

    assert upgraded == {(email, email.lower()) for email in stored}
    assert downgraded == {(email.lower(),) for email in stored}


def test_the_trash_index_holds_trashed_documents_only(empty_settings: Settings) -> None:
    upgrade_to_head(empty_settings)

    def definition(conn: sa.Connection) -> str:
        if conn.dialect.name == "postgresql":
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_documents_trashed_at'"
        else:
            query = "SELECT sql FROM sqlite_master WHERE name = 'ix_documents_trashed_at'"
        return conn.execute(sa.text(query)).scalar_one()

    assert "trashed_at IS NOT NULL" in asyncio.run(_inspect(empty_settings, definition))


def test_large_text_columns_compress_with_lz4_on_postgresql(tmp_path: Path) -> None:
    """Against PostgreSQL whichever database the suite runs on (SQLite has no such setting)."""
    require_postgres()

    async def methods(url: str) -> dict[str, str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT attrelid::regclass::text || '.' || attname, attcompression::text FROM pg_attribute"
                " WHERE (attrelid::regclass::text, attname) IN (('documents', 'content'),"
                " ('document_versions', 'content'), ('ocr_pages', 'text'), ('search_documents', 'tsv'),"
                " ('search_documents', 'pairs'), ('users', 'email'))"
            )
            return dict(rows)
        finally:
            await conn.close()

    with postgres_database(tmp_path) as url:
        upgraded = asyncio.run(methods(url))
        command.downgrade(alembic_config(make_settings(url, tmp_path).sqlalchemy_url), "0008_search_document_columns")
        downgraded = asyncio.run(methods(url))
    # 'l': lz4; '' (the server's default, pglz) for a column left alone.
    assert upgraded == {
        "documents.content": "l",
        "document_versions.content": "l",
        "ocr_pages.text": "l",
        "search_documents.tsv": "l",
        "search_documents.pairs": "l",
        "users.email": "",
    }
    assert set(downgraded.values()) == {""}


def test_the_search_indexes_pending_lists_are_small_on_postgresql(tmp_path: Path) -> None:
    """Against PostgreSQL whichever database the suite runs on (SQLite's search has no GIN)."""
    require_postgres()

    async def options(url: str) -> dict[str, list[str] | None]:
        conn = await asyncpg.connect(url)
        try:
            query = "SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'ix_search_documents_%'"
            return {name: reloptions for name, reloptions in await conn.fetch(query)}
        finally:
            await conn.close()

    with postgres_database(tmp_path) as url:
        found = asyncio.run(options(url))
    assert found == {
        "ix_search_documents_owner_tsv": ["gin_pending_list_limit=512"],
        "ix_search_documents_owner_pairs": ["gin_pending_list_limit=512"],
    }
