"""Audit events: append-only. There is deliberately no update or delete here."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


async def add_event(*, session: AsyncSession, event: AuditEvent) -> None:
    session.add(event)
    await session.flush()


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
