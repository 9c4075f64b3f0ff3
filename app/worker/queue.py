"""The Huey queue: SQLite under DATA_DIR (embedded), or Redis when several machines share work.

Task entry points are thin: ids in, a service call out. Huey tasks are synchronous, so each runs
the async service on its worker's own event loop (see `context`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import anyio
from huey import Huey, PriorityRedisHuey, SqliteHuey, crontab

from app.core.config import Settings
from app.models.base import utcnow
from app.services.ocr_pipeline import reap_stalled_jobs, run_ocr_job
from app.services.sessions import prune_once_per_day
from app.services.trash import purge_trash_once_per_day
from app.worker.context import worker_context

QUEUE_NAME = "lekhamudra"
PRIORITY_QUEUE_NAME = "lekhamudra-priority"


def _run_ocr(document_id: str, generation: int) -> str:
    ctx = worker_context()
    return ctx.run(run_ocr_job(ctx.ocr_deps(), uuid.UUID(document_id), generation))


def _reap_stalled_jobs() -> int:
    ctx = worker_context()
    return ctx.run(reap_stalled_jobs(ctx.ocr_deps()))


def _prune_sessions() -> int | None:
    ctx = worker_context()
    return ctx.run(prune_once_per_day(db=ctx.db, now=utcnow()))


def _purge_trash() -> int | None:
    ctx = worker_context()
    retention = timedelta(days=ctx.settings.trash_retention_days)
    return ctx.run(purge_trash_once_per_day(db=ctx.db, storage=ctx.storage, now=utcnow(), retention=retention))


def _recover_on_startup() -> None:
    # A restarted worker picks up what a killed one left (its heartbeat thread takes back the jobs
    # of workers that are gone), without waiting for the next minute.
    ctx = worker_context()
    ctx.run(reap_stalled_jobs(ctx.ocr_deps(), once_per_slot=False))


class Queue:
    """The app's queue: the Huey instance plus typed enqueue helpers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.queue_url:
            # A sorted set, not a list: recovered jobs go ahead of newer uploads (needs Redis >= 5).
            # Its own key: a list left by an earlier version is not read (the reaper re-sends its jobs).
            self.huey: Huey = PriorityRedisHuey(PRIORITY_QUEUE_NAME, url=settings.queue_url, results=False)
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey(QUEUE_NAME, filename=str(settings.data_dir / "queue.db"), results=False, timeout=30)
        self.run_ocr = self.huey.task(name="run_ocr")(_run_ocr)
        self.reap_stalled_jobs = self.huey.periodic_task(crontab(minute="*"), name="reap_stalled_jobs")(
            _reap_stalled_jobs
        )
        self.prune_sessions = self.huey.periodic_task(crontab(hour="3", minute="17"), name="prune_sessions")(
            _prune_sessions
        )
        self.purge_trash = self.huey.periodic_task(crontab(hour="3", minute="41"), name="purge_trash")(_purge_trash)
        self.huey.on_startup(name="recover_on_startup")(_recover_on_startup)

    @property
    def kind(self) -> str:
        return "redis" if self.settings.queue_url else "sqlite"

    def enqueue_ocr_sync(
        self, document_id: uuid.UUID, generation: int, delay: float | None = None, *, priority: int = 0
    ) -> None:
        self.run_ocr.schedule(args=(str(document_id), generation), delay=delay or 0, priority=priority or None)

    async def enqueue_ocr(
        self, document_id: uuid.UUID, generation: int, delay: float | None = None, *, priority: int = 0
    ) -> None:
        await anyio.to_thread.run_sync(lambda: self.enqueue_ocr_sync(document_id, generation, delay, priority=priority))

    def _held_ocr_runs_sync(self) -> set[tuple[uuid.UUID, int]]:
        held = set()
        for task in [*self.huey.pending(), *self.huey.scheduled()]:
            if task.name == self.run_ocr.name:
                held.add((uuid.UUID(task.args[0]), int(task.args[1])))
        return held

    async def held_ocr_runs(self) -> set[tuple[uuid.UUID, int]]:
        """The OCR runs waiting in the queue or scheduled for later: (document id, generation)."""
        return await anyio.to_thread.run_sync(self._held_ocr_runs_sync)

    async def pending(self) -> int:
        return await anyio.to_thread.run_sync(self.huey.pending_count)
