"""Queue consumers as they report themselves (`workers` rows): data access only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.rows import rows_changed
from app.models import Worker


async def beat(
    *, session: AsyncSession, worker_id: str, host: str, pid: int, started_at: datetime, now: datetime
) -> None:
    """Renew the worker's heartbeat, adding its row if missing (first beat, or removed as dead
    while it was only paused: it is alive again)."""
    renewed = update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now)
    if await rows_changed(session=session, statement=renewed) == 0:
        session.add(Worker(id=worker_id, host=host, pid=pid, started_at=started_at, heartbeat_at=now))
        await session.flush()


async def list_workers(*, session: AsyncSession) -> list[Worker]:
    return list((await session.scalars(select(Worker).order_by(Worker.started_at))).all())


async def remove_workers(*, session: AsyncSession, worker_ids: list[str]) -> None:
    if worker_ids:
        await session.execute(delete(Worker).where(Worker.id.in_(worker_ids)))


async def last_heartbeat(*, session: AsyncSession) -> datetime | None:
    """The most recent heartbeat of any worker."""
    return await session.scalar(select(func.max(Worker.heartbeat_at)))
