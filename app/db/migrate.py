"""Apply Alembic migrations from code, once at a time per data directory."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.core.config import Settings

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = database_url
    return cfg


@contextmanager
def _migration_lock(data_dir: Path) -> Iterator[None]:
    # Several server workers may start at once; only one may run the migrations.
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_to_head(settings: Settings) -> None:
    with _migration_lock(settings.data_dir):
        command.upgrade(alembic_config(settings.sqlalchemy_url), "head")
    log.info("database schema is at head")
