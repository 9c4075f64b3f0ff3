"""Audit events: append-only. There is deliberately no delete here, and the one update adds to a
refusal's count."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.sharing import REFUSAL_ROWS


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
