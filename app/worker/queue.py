"""The Huey queue: SQLite under DATA_DIR (embedded), or Redis when several machines share work.

Task entry points are thin: ids in, a service call out. Huey tasks are synchronous, so each runs
the async service on its worker's own event loop (see `context`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from functools import partial

import anyio
import redis
from huey import Huey, PriorityRedisHuey, SqliteHuey, crontab

from app.core.config import Settings
from app.core.errors import QueueUnavailable
from app.core.incidents import incident
from app.models.base import utcnow
from app.services.idempotency import prune_expired_keys
from app.services.ocr_pipeline import reap_stalled_jobs, run_ocr_job
from app.services.sessions import prune_once_per_day
from app.services.trash import purge_trash_once_per_day
from app.worker.context import worker_context

QUEUE_NAME = "lekhamudra"
log = logging.getLogger(__name__)
# Redis that stops answering is given up on after this, rather than holding a request (seconds;
# above Huey's one-second blocking read, so an idle consumer is not cut off).
REDIS_TIMEOUT_SECONDS = 5.0
# Unsent enqueues are tried again after these many seconds, the last one repeating.
RESEND_BACKOFF = (0.5, 1.0, 2.0, 4.0)
QUEUE_DOWN = incident("queue_unavailable")
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


def _prune_idempotency_keys() -> int:
    # Expired keys already answer as absent; this only keeps the table to a day of creates.
    ctx = worker_context()
    return ctx.run(prune_expired_keys(db=ctx.db, now=utcnow()))


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
        # Enqueues that failed (the queue unreachable), to send again: the job row is the truth and
        # a claim dedupes, so sending one twice is harmless, and losing one costs only time (the
        # worker's reaper re-sends it within minutes; this, within seconds of the queue's return).
        self._unsent: dict[tuple[uuid.UUID, int], tuple[float | None, int]] = {}  # each with its delay and priority
        self._resender: asyncio.Task[None] | None = None
        if settings.queue_url:
            # A sorted set, not a list: recovered jobs go ahead of newer uploads (needs Redis >= 5).
            # Its own key: a list left by an earlier version is not read (the reaper re-sends its jobs).
            pool = redis.ConnectionPool.from_url(
                settings.queue_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            self.huey: Huey = PriorityRedisHuey(PRIORITY_QUEUE_NAME, connection_pool=pool, results=False)
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
        self.prune_idempotency_keys = self.huey.periodic_task(
            crontab(hour="3", minute="29"), name="prune_idempotency_keys"
        )(_prune_idempotency_keys)
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
        """Send the job's task; if the queue cannot take it now, keep it and send it once it can."""
        try:
            await anyio.to_thread.run_sync(
                partial(self.enqueue_ocr_sync, document_id, generation, delay, priority=priority)
            )
        except Exception as exc:
            QUEUE_DOWN.happened(f"OCR jobs are kept and sent when it answers ({type(exc).__name__}: {exc})")
            self._unsent[(document_id, generation)] = (delay, priority)
            if self._resender is None or self._resender.done():
                self._resender = asyncio.get_running_loop().create_task(self._resend())
        else:
            QUEUE_DOWN.ended()

    async def _resend(self) -> None:
        """Send the kept tasks, oldest first, backing off while the queue stays unreachable."""
        attempt = 0
        while self._unsent:
            await asyncio.sleep(RESEND_BACKOFF[min(attempt, len(RESEND_BACKOFF) - 1)])
            attempt += 1
            for (document_id, generation), (delay, priority) in list(self._unsent.items()):
                try:
                    await anyio.to_thread.run_sync(
                        partial(self.enqueue_ocr_sync, document_id, generation, delay, priority=priority)
                    )
                except Exception:
                    break  # still down: wait and try again from here
                self._unsent.pop((document_id, generation), None)
        QUEUE_DOWN.ended()
        log.info("queue.resent: the OCR jobs kept while the queue was unreachable are sent")

    @property
    def unsent(self) -> int:
        """Enqueues waiting for the queue to come back."""
        return len(self._unsent)

    async def close(self) -> None:
        """Stop re-sending (what is left is the worker's reaper's to find)."""
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
            if self._unsent:
                log.warning("queue: %d OCR job(s) not sent before shutdown; the reaper will", len(self._unsent))

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
        """Tasks waiting; QueueUnavailable (503 `queue_unavailable`) if the queue cannot be asked.
        Only what must read the queue itself fails so (/metrics' depth): an upload or a re-run
        degrades instead (`enqueue_ocr`)."""
        try:
            count = await anyio.to_thread.run_sync(self.huey.pending_count)
        except Exception as exc:
            QUEUE_DOWN.happened(f"{type(exc).__name__}: {exc}")
            raise QueueUnavailable() from exc
        QUEUE_DOWN.ended()
        return count
