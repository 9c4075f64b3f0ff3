"""Audit events: append-only. There is deliberately no delete here, and the one update adds to a
refusal's count."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Executable,
    FromClause,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.sharing import REFUSAL_ROWS

# An event's columns but its id and those only a repeated refusal sets (their defaults apply).
_EVENT_COLUMNS = tuple(c.key for c in AuditEvent.__table__.columns if c.key not in ("id", "count", "refusal_key"))


def event_rows(
    source: FromClause, *, dialect: str, columns: Mapping[str, ColumnElement[Any]] | None = None
) -> list[Executable]:
    """A write's step (app.db.writes): its audit event, one per row of `source` (the anchor's
    row), from the parameters `event_<column>` (`event_params`) but for the `columns` given."""
    table, columns = AuditEvent.__table__.c, columns or {}
    details = bindparam("event_details", type_=Text)  # JSON text: cast on PostgreSQL, as it is on SQLite
    values = [
        columns[name]
        if name in columns
        else (cast(details, JSON) if dialect == "postgresql" else func.json(details, type_=JSON))
        if name == "details"
        else bindparam(f"event_{name}", type_=table[name].type)
        for name in _EVENT_COLUMNS
    ]
    return [insert(AuditEvent).from_select(list(_EVENT_COLUMNS), select(*values).select_from(source))]


def event_params(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event_rows`' parameters. `event`: `app.services.audit.event_values`."""
    params = {f"event_{name}": event[name] for name in _EVENT_COLUMNS if name not in ("actor_id", "actor_email")}
    params |= {"event_actor_id": event["actor_id"], "event_actor_email": event["actor_email"]}
    params["event_details"] = json.dumps(event["details"])
    return params


async def add_event(*, session: AsyncSession, event: AuditEvent) -> None:
    session.add(event)
    await session.flush()


async def add_refusal(*, session: AsyncSession, values: dict[str, Any], key: str) -> None:
    """A refusal's row, or one more on the count of the row that has its key: one statement, so
    repeats arriving at once are all counted."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AuditEvent).values(**values, refusal_key=key, count=1)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[AuditEvent.refusal_key],
            index_where=REFUSAL_ROWS,
            set_={"count": AuditEvent.count + 1},
        )
    )


async def list_for_target(
    *, session: AsyncSession, target_type: str, target_id: str, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    where = (AuditEvent.target_type == target_type) & (AuditEvent.target_id == target_id)
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(where))
    stmt = select(AuditEvent).where(where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all()), total or 0


async def list_for_actor(
    *, session: AsyncSession, actor_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    where = AuditEvent.actor_id == actor_id
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(where))
    stmt = select(AuditEvent).where(where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all()), total or 0
