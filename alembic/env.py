"""Alembic environment: async engine, URL from the app's settings, batch mode on SQLite."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import get_settings
from app.db.session import configure_sqlite
from app.models import Base
from app.models.base import UTCDateTime
from app.search import include_name

config = context.config
database_url = config.attributes.get("database_url")
if database_url is None:
    # Invoked as `alembic …` from the shell: log as the ini says, use the app's settings.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.sqlalchemy_url

target_metadata = Base.metadata


def _render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    # Migrations spell the column type plainly; UTC handling is the model's business.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=database_url.startswith("sqlite"),
        compare_type=True,
        render_item=_render_item,
        # The search index's tables are per engine (FTS5 or tsvector) and made by their migration.
        include_name=include_name,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    # What the database was at, for the caller to report (app.db.migrate.upgrade_to_head).
    config.attributes["revision_before"] = context.get_context().get_current_revision()
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    if database_url.startswith("sqlite"):
        configure_sqlite(engine, busy_timeout_ms=30_000)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
