"""The schema's version: apply Alembic migrations from code (once at a time per data directory),
and compare a database's revision with the code's head."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Set by `lekhamudra serve` once it has migrated (or checked) the schema, so that its server
# processes do not each do it again.
MIGRATED_ENV = "LEKHAMUDRA_MIGRATED"


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = database_url
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def head_revision() -> str:
    """The newest migration this code has."""
    head = _scripts().get_current_head()
    assert head is not None, "alembic/versions holds no migration"
    return head


def short(revision: str | None) -> str:
    """`0010` for `0010_search_gin_pending_list`; `0000` for a database never migrated."""
    return revision.split("_", 1)[0] if revision else "0000"


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: no schema at all
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def problem(self) -> str | None:
        """One line saying what is wrong and what to do, or None at head."""
        if self.at_head:
            return None
        needs = f"the code needs {short(self.head)}"
        if self.current is None:
            return f"the database has no schema yet, {needs}: run `lekhamudra db upgrade`"
        if self.current not in {script.revision for script in _scripts().walk_revisions()}:
            newer = f"newer than this code's {short(self.head)}"
            return f"database schema is at {short(self.current)}, {newer}: run the code that migrated it"
        return f"database schema is at {short(self.current)}, {needs}: run `lekhamudra db upgrade`"


def schema_state(connection: Connection) -> SchemaState:
    """The revision a database is at (a sync connection: `await conn.run_sync(schema_state)`)."""
    current = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(current=current, head=head_revision())


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


def upgrade_to_head(settings: Settings) -> tuple[str | None, str]:
    """Migrate to head; the revisions before and after."""
    cfg = alembic_config(settings.sqlalchemy_url)
    with _migration_lock(settings.data_dir):
        command.upgrade(cfg, "head")
    return cfg.attributes.get("revision_before"), head_revision()


def upgrade_report(before: str | None, head: str) -> str:
    """What `upgrade_to_head` did, in one line."""
    if before == head:
        return f"database schema already at head ({short(head)})"
    return f"database schema upgraded {short(before)} → {short(head)} (head)"
