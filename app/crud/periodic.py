"""Periodic-task slots: one run per schedule slot however many consumers fire the schedule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.rows import rows_changed
from app.models import PeriodicRun


async def claim_periodic_slot(*, session: AsyncSession, name: str, slot: int, now: datetime) -> bool:
    """True for exactly one caller per (name, slot)."""
    claimed = await rows_changed(
        session=session,
        statement=update(PeriodicRun)
        .where(PeriodicRun.name == name, PeriodicRun.slot < slot)
        .values(slot=slot, ran_at=now),
    )
    if claimed == 1:
        return True
    if await session.get(PeriodicRun, name) is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(insert(PeriodicRun).values(name=name, slot=slot, ran_at=now))
    except IntegrityError:  # another consumer inserted it first
        return False
    return True
