"""The OCR job, as ordered steps: claim -> fetch the file -> count pages -> OCR page by page
(each page saved and the lease renewed) -> finish; the temporary copy is removed in `finally`.

Runs inside a queue worker. Inputs are ids; the database row is the source of truth, so a job that
is delivered twice, or resumed after its worker was killed, gives one result.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import DBAPIError, OperationalError

from app import ocr, search
from app.core.config import Settings
from app.crud import ocr as ocr_crud
from app.crud import periodic as periodic_crud
from app.db.session import Database, after_commit
from app.models import OcrPage
from app.services import audit
from app.services.audit import document_target
from app.storage import Storage, StorageUnavailable

log = logging.getLogger(__name__)


class Enqueue(Protocol):
    """Send an OCR run to the queue (app.worker.queue.Queue.enqueue_ocr): what the use cases need
    of the queue, so that they do not depend on the worker."""

    def __call__(
        self, document_id: uuid.UUID, generation: int, delay: float | None = None, *, priority: int = 0
    ) -> Awaitable[None]: ...


# Errors that may pass: the store or database was briefly unreachable. Anything in app.ocr.OcrError
# (corrupt file, page limit, hung page, missing language data) fails the job at once.
TRANSIENT_ERRORS = (StorageUnavailable, OperationalError, DBAPIError, ConnectionError, TimeoutError)
REAP_INTERVAL_SECONDS = 60
# Jobs queued again after their run was cut short go ahead of newer uploads: they had their turn.
RECOVERED_PRIORITY = 10


@dataclass
class OcrDeps:
    """What an OCR job needs from its worker process."""

    settings: Settings
    db: Database
    storage: Storage
    engine: Callable[[], ocr.OcrEngine]
    enqueue: Enqueue
    clock: Callable[[], datetime]
    # The `workers` row of the consumer running the jobs (None: run in-process, as tests do).
    worker_id: str | None = None
    # The OCR runs the queue holds, waiting or scheduled (app.worker.queue.Queue.held_ocr_runs).
    held: Callable[[], Awaitable[set[tuple[uuid.UUID, int]]]] | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.ocr_lease_seconds)


def crash_message(crashes: int) -> str:
    return f"the OCR engine stopped {crashes} times while reading this file"


def retry_delay(attempts: int) -> float:
    """Backoff before attempt `attempts + 1`: 10 s, 40 s, 160 s …"""
    return 10.0 * 4 ** (attempts - 1)


async def run_ocr_job(deps: OcrDeps, document_id: uuid.UUID, generation: int) -> str:
    """Run (or resume) one document's OCR; returns what became of it, for logs and tests."""
    async with deps.db.unit_of_work() as session:
        job = await ocr_crud.claim_job(
            session=session,
            document_id=document_id,
            generation=generation,
            now=deps.clock(),
            lease=deps.lease,
            worker_id=deps.worker_id,
        )
    if job is None:
        return "skipped"
    if job.crashes >= deps.settings.ocr_max_crashes:  # taken over from dead workers, no page saved since
        await _fail(deps, job, crash_message(job.crashes))
        return "failed"
    workdir = Path(tempfile.mkdtemp(prefix="lekhamudra-ocr-"))
    saved = _Saved()
    try:
        return await _process(deps, job, workdir / "original", saved)
    except ocr.EngineDied as exc:
        return await _after_crash(deps, job, str(exc), crashes=(0 if saved.pages else job.crashes) + 1)
    except ocr.OcrError as exc:
        await _fail(deps, job, str(exc))
        return "failed"
    except Exception as exc:  # temporary errors, and bugs: retried a few times, then failed
        if not isinstance(exc, TRANSIENT_ERRORS):
            log.exception("ocr.error document_id=%s", document_id)
        reason = f"temporary error: {type(exc).__name__}"
        if job.attempts >= deps.settings.ocr_max_attempts:
            await _fail(deps, job, f"OCR failed after {job.attempts} attempts ({reason})")
            return "failed"
        log.warning("ocr.retry document_id=%s attempt=%d %s", document_id, job.attempts, reason)
        async with deps.db.unit_of_work() as session:
            if await ocr_crud.release_for_retry(session=session, job=job, error=reason):
                after_commit(session, lambda: deps.enqueue(document_id, generation, retry_delay(job.attempts)))
        return "retrying"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class _Saved:
    """Pages this run has saved (a saved page starts the count of crashes again)."""

    pages: int = 0


async def _after_crash(deps: OcrDeps, job: ocr_crud.ClaimedJob, reason: str, *, crashes: int) -> str:
    """The engine died under a page: not an attempt of the file. Queued again at once, ahead of
    newer uploads; failed once it has happened OCR_MAX_CRASHES times with no page saved between."""
    if crashes >= deps.settings.ocr_max_crashes:
        await _fail(deps, job, crash_message(crashes))
        return "failed"
    log.warning("ocr.crash document_id=%s crashes=%d %s", job.document_id, crashes, reason)
    async with deps.db.unit_of_work() as session:
        if await ocr_crud.release_after_crash(session=session, job=job, error=reason, now=deps.clock()):
            after_commit(
                session, lambda: deps.enqueue(job.document_id, job.generation, None, priority=RECOVERED_PRIORITY)
            )
    return "crashed"


async def _process(deps: OcrDeps, job: ocr_crud.ClaimedJob, path: Path, saved: _Saved) -> str:
    settings = deps.settings
    await deps.storage.download_to(job.storage_key, path)
    limits = {"max_pages": settings.max_pdf_pages, "max_pixels": settings.max_image_pixels}
    # OCR is CPU-bound and synchronous: it runs in a thread, keeping the worker's loop free.
    total = await asyncio.to_thread(ocr.count_pages, path, job.content_type, **limits)
    async with deps.db.unit_of_work() as session:
        if not await ocr_crud.set_pages_total(session=session, job=job, pages_total=total):
            return "superseded"
    pages = ocr.read_pages(
        path, job.content_type, languages=job.languages, engine=deps.engine(), first_page=job.pages_done + 1, **limits
    )
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        row = OcrPage(
            document_id=job.document_id,
            number=page.number,
            text=page.text,
            confidence=page.confidence,
            source=page.source,
            engine=page.engine,
            languages=page.languages,
            created_at=deps.clock(),
        )
        async with deps.db.unit_of_work() as session:
            if not await ocr_crud.store_page(session=session, job=job, page=row, now=deps.clock(), lease=deps.lease):
                return "superseded"  # re-run by the user, or taken over after our lease ran out
        saved.pages += 1
    async with deps.db.unit_of_work() as session:
        done = await ocr_crud.finish_job(session=session, job=job, now=deps.clock())
        if done:
            # The text arrived: searchable from the moment the job is done.
            await search.reindex_document(session, document_id=job.document_id)
            await audit.record(
                session, "ocr.done", actor=None, target=document_target(job.document_id), details={"pages": total}
            )
    if not done:
        return "superseded"
    log.info("ocr.done document_id=%s pages=%d", job.document_id, total)
    return "done"


async def _fail(deps: OcrDeps, job: ocr_crud.ClaimedJob, error: str) -> None:
    log.warning("ocr.failed document_id=%s error=%s", job.document_id, error)
    async with deps.db.unit_of_work() as session:
        if await ocr_crud.fail_job(session=session, job=job, error=error, now=deps.clock()):
            await audit.record(
                session, "ocr.failed", actor=None, target=document_target(job.document_id), details={"error": error}
            )


async def reap_stalled_jobs(deps: OcrDeps, *, once_per_slot: bool = True) -> int:
    """Re-enqueue jobs whose worker died or whose enqueue was lost.

    As the periodic task it runs once per minute in all, however many consumers schedule it; a
    worker starting up runs it unconditionally (re-enqueueing twice is harmless: claims dedupe).
    """
    now = deps.clock()
    slot = int(now.timestamp()) // REAP_INTERVAL_SECONDS
    async with deps.db.unit_of_work() as session:
        if once_per_slot and not await periodic_crud.claim_periodic_slot(
            session=session, name="ocr.reap", slot=slot, now=now
        ):
            return 0
        stalled = await ocr_crud.find_stalled_jobs(session=session, now=now, queued_before=now - deps.lease)
        for document_id, generation in stalled:
            await ocr_crud.touch_queued(session=session, document_id=document_id, generation=generation, now=now)
    for document_id, generation in stalled:
        log.info("ocr.requeue document_id=%s generation=%d", document_id, generation)
        await deps.enqueue(document_id, generation, None, priority=RECOVERED_PRIORITY)
    return len(stalled)
