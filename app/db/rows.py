"""The rows a data-changing statement touched."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable


async def rows_changed(*, session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None) -> int:
    """Run an INSERT, UPDATE or DELETE and return its row count.

    `AsyncSession.execute` is typed to return `Result`, which has no `rowcount`: an ORM bulk
    statement (a list of parameter sets) may not come back as a cursor. A single statement always
    does, and SQLAlchemy's changelog (2.0.44) says to cast where that is known: here, once.
    """
    result = await session.execute(statement, params)
    return cast(CursorResult[Any], result).rowcount
