"""Why a database cannot be used, in one line naming the thing at fault (never the password).

Used before serving (`lekhamudra serve`, the worker, `lekhamudra check`), at the app's start
outside dev, and by /health: the same words everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from app.core.errors import StartupRefused
from app.db.migrate import SchemaState, schema_state, short
from app.db.session import Database

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
# What reaching a database that cannot be used raises (the driver's errors come wrapped in DBAPIError).
UNREACHABLE = (OSError, TimeoutError, DBAPIError)


def describe(url: str) -> str:
    """`PostgreSQL at host:port (database d, user u)` or `SQLite file /path`, without a password."""
    parts = make_url(url)
    if parts.get_backend_name() == "sqlite":
        return f"SQLite file {parts.database}"
    where = f"{parts.host or 'the local socket'}{f':{parts.port}' if parts.port else ''}"
    return f"PostgreSQL at {where} (database {parts.database}, user {parts.username or 'default'})"


def sqlite_folder_problem(url: str) -> str | None:
    """A SQLite file whose folder is missing: SQLite itself says only "unable to open database file"."""
    parts = make_url(url)
    if parts.get_backend_name() != "sqlite" or not parts.database:
        return None
    folder = Path(parts.database).resolve().parent
    return (
        None
        if folder.is_dir()
        else f"the SQLite database's folder {folder} does not exist: create it, or fix DATABASE_URL"
    )


def connection_problem(url: str, exc: BaseException) -> str:
    """What a failure to reach the database means, naming the database."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(reason, socket.gaierror):
        why = f"the host {make_url(url).host!r} is unknown"
    elif isinstance(reason, ConnectionRefusedError):
        why = "connection refused (is the server running, on that port?)"
    elif isinstance(reason, TimeoutError):
        why = f"no answer within {CONNECT_TIMEOUT_S:g} s"
    else:
        why = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return f"cannot use the database, {describe(url)}: {why}"


async def read_schema_state(db: Database) -> SchemaState:
    """The database's revision against the code's head (raises what connecting raises)."""
    async with asyncio.timeout(CONNECT_TIMEOUT_S), db.engine.connect() as conn:
        return await conn.run_sync(schema_state)


async def database_problem(db: Database, *, check_schema: bool = True) -> str | None:
    """None if the database answers (and, with `check_schema`, is at head); else one line."""
    if folder := sqlite_folder_problem(db.url):
        return folder
    try:
        state = await read_schema_state(db)
    except UNREACHABLE as exc:
        return connection_problem(db.url, exc)
    return state.problem() if check_schema else None


async def refuse_schema_not_at_head(db: Database) -> None:
    """Raise StartupRefused if the database's schema is not the code's; a database that cannot be
    reached now is logged, not refused (it may come back; /health says so meanwhile)."""
    try:
        state = await read_schema_state(db)
    except UNREACHABLE as exc:
        log.warning("%s", connection_problem(db.url, exc))
        return
    if problem := state.problem():
        raise StartupRefused(problem)


async def database_status(db: Database) -> dict[str, Any]:
    """/health's view of the database: its backend, schema revision, and why it cannot be used."""
    backend = db.engine.dialect.name
    try:
        state = await read_schema_state(db)
    except UNREACHABLE as exc:
        reason = sqlite_folder_problem(db.url) or connection_problem(db.url, exc)
        log.warning("health: %s", reason)
        return {"status": "unavailable", "backend": backend, "reason": reason}
    if problem := state.problem():
        return {"status": "schema_mismatch", "backend": backend, "schema": short(state.current), "reason": problem}
    return {"status": "ok", "backend": backend, "schema": short(state.current)}
