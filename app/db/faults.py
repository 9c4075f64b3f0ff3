"""What a database error means to the client: the database is out of reach (503
`database_unavailable`), or its disk is full (507 `insufficient_storage`), or neither (a bug: 500).

The driver's and SQLAlchemy's errors stay what they are below the API; the API's last handler
asks `database_fault` before it would answer 500. Each kind is logged once per incident
(app.core.incidents), and the incident ends with the next unit of work that commits.
"""

from __future__ import annotations

import socket
import sqlite3

import asyncpg
from sqlalchemy import exc as sa_exc

from app.core.errors import AppError, DatabaseUnavailable, InsufficientStorage
from app.core.incidents import incident

UNAVAILABLE = incident("database_unavailable")
FULL = incident("database_disk_full")
# Out of reach: refused, reset, a hung server past a timeout, a server shutting down or starting.
_UNREACHABLE = (
    TimeoutError,
    ConnectionError,
    socket.gaierror,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # shutting down, starting up, statement_timeout
    asyncpg.InterfaceError,
    # A connection taken while the server's termination notice was arriving ("another operation
    # is in progress"): the driver pool runs it again; through the ORM it is this request's 503.
    asyncpg.InternalClientError,
)
_SQLITE_FULL = 13


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it wraps (SQLAlchemy's DBAPIError holds the driver's error in `orig`)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        wrapped = current.orig if isinstance(current, sa_exc.DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return seen


def database_fault(exc: BaseException) -> AppError | None:
    """The domain error a database error stands for, logged once per incident; None if it is not one."""
    for cause in _causes(exc):
        if isinstance(cause, asyncpg.DiskFullError) or (
            isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) == _SQLITE_FULL
        ):
            FULL.happened(f"{type(cause).__name__}: {cause}")
            return InsufficientStorage()
        if isinstance(cause, _UNREACHABLE) and not isinstance(cause, asyncpg.DataError):
            UNAVAILABLE.happened(type(cause).__name__ + (f": {cause}" if str(cause) else ""))
            return DatabaseUnavailable()
    return None


def database_answered() -> None:
    """A unit of work committed: an incident under way is over."""
    UNAVAILABLE.ended()
    FULL.ended()
