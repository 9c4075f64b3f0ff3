"""Workers' heartbeats, and taking back the jobs of a worker that is gone.

Every consumer has an identity (a `workers` row) and renews its heartbeat every
WORKER_HEARTBEAT_SECONDS; a claim records the claiming worker. A worker is gone when its heartbeat
is older than STALE_BEATS intervals, or, on the checking worker's own host, when its process no
longer exists (known at once: a supervisor's restart, systemd's). Any live worker that notices
takes the gone worker's jobs back and queues them ahead of newer uploads: they had their turn.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crud import ocr as ocr_crud
from app.crud import workers as workers_crud
from app.db.session import Database
from app.models import Worker
from app.services.ocr_pipeline import RECOVERED_PRIORITY, OcrDeps

log = logging.getLogger(__name__)
# Missed heartbeats after which a worker on another host counts as dead.
STALE_BEATS = 3


@dataclass(frozen=True)
class WorkerIdentity:
    """This process's consumer, as its `workers` row names it."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def is_gone(worker: Worker, *, me: WorkerIdentity, now: datetime, interval: float) -> bool:
    if worker.id == me.id:
        return False
    if worker.heartbeat_at < now - timedelta(seconds=interval * STALE_BEATS):
        return True
    # Same host: the process table knows at once (a pid reused within seconds is the accepted risk).
    return worker.host == me.host and not _process_exists(worker.pid)


async def beat_and_take_back(deps: OcrDeps, me: WorkerIdentity, *, started_at: datetime) -> int:
    """Renew this worker's heartbeat, then take back the jobs of workers that are gone; how many."""
    now = deps.clock()
    interval = deps.settings.worker_heartbeat_seconds
    async with deps.db.unit_of_work() as session:
        await workers_crud.beat(
            session=session, worker_id=me.id, host=me.host, pid=me.pid, started_at=started_at, now=now
        )
    async with deps.db.unit_of_work() as session:
        gone = [
            w.id
            for w in await workers_crud.list_workers(session=session)
            if is_gone(w, me=me, now=now, interval=interval)
        ]
        if not gone:
            return 0
        taken = await ocr_crud.take_back_jobs(session=session, worker_ids=gone, now=now)
        await workers_crud.remove_workers(session=session, worker_ids=gone)
    for document_id, generation in taken:
        log.warning("ocr.take_back document_id=%s generation=%d (its worker is gone)", document_id, generation)
        await deps.enqueue(document_id, generation, None, priority=RECOVERED_PRIORITY)
    log.info("workers gone: %s", ", ".join(gone))
    return len(taken) + await _resend_lost(deps, now=now)


async def _resend_lost(deps: OcrDeps, *, now: datetime) -> int:
    """Queue again the queued jobs whose message is no longer in the queue: a worker killed
    after taking a message and before claiming its job took the message with it. (A job sent
    twice is harmless: its second claim finds it taken.)"""
    if deps.held is None:
        return 0
    async with deps.db.unit_of_work(write=False) as session:
        queued = await ocr_crud.list_queued(session=session, queued_before=now)
    held = await deps.held()
    lost = [run for run in queued if run not in held]
    for document_id, generation in lost:
        log.warning(
            "ocr.resend document_id=%s generation=%d (its message went with a dead worker)", document_id, generation
        )
        await deps.enqueue(document_id, generation, None, priority=RECOVERED_PRIORITY)
    return len(lost)


async def leave(db: Database, me: WorkerIdentity) -> None:
    """A worker stopping cleanly removes its row (its jobs were finished or released)."""
    async with db.unit_of_work() as session:
        await workers_crud.remove_workers(session=session, worker_ids=[me.id])


async def worker_status(*, db: Database, now: datetime, interval: float) -> dict[str, Any]:
    """What /health tells operators of the workers: alive, last heartbeat, jobs waiting."""
    async with db.unit_of_work(write=False) as session:
        last = await workers_crud.last_heartbeat(session=session)
        waiting = await ocr_crud.count_queued(session=session)
    alive = last is not None and last >= now - timedelta(seconds=interval * STALE_BEATS)
    return {
        "status": "ok" if alive else "down",
        "alive": alive,
        "last_heartbeat_at": last.isoformat() if last else None,
        "jobs_waiting": waiting,
    }
