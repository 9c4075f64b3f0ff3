"""The OCR job, as ordered steps: claim -> count each file's pages (once per file: recorded) ->
OCR page by page, file after file in order (each page saved and the lease renewed) -> finish;
the temporary copies are removed in `finally`. A job resumed, or re-queued for files appended to
the document, starts after the pages already done.

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
from functools import partial
from pathlib import Path
from typing import Protocol

from PIL import Image
from sqlalchemy.exc import DBAPIError, OperationalError

from app import ocr, search
from app.core.config import Settings
from app.crud import ocr as ocr_crud
from app.crud import periodic as periodic_crud
from app.db.session import Database, after_commit
from app.models import DocumentFile, OcrPage
from app.services import audit
from app.services.audit import document_target
from app.storage import Storage, StorageUnavailable, new_object_key

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
        return await _process(deps, job, workdir, saved)
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


async def _process(deps: OcrDeps, job: ocr_crud.ClaimedJob, workdir: Path, saved: _Saved) -> str:
    settings = deps.settings
    limits = {"max_pages": settings.max_pdf_pages, "max_pixels": settings.max_image_pixels}
    async with deps.db.unit_of_work(write=False) as session:
        files = [_FileToRead.of(row) for row in await ocr_crud.list_files(session=session, document_id=job.document_id)]
    for file in files:
        if file.page_count is None:
            await deps.storage.download_to(file.storage_key, file.local(workdir))
            # OCR is CPU-bound and synchronous: it runs in a thread, keeping the worker's loop free.
            file.page_count = await asyncio.to_thread(ocr.count_pages, file.local(workdir), file.content_type, **limits)
            async with deps.db.unit_of_work() as session:
                await ocr_crud.set_page_count(
                    session=session, document_id=job.document_id, position=file.position, page_count=file.page_count
                )
    total = sum(file.page_count or 0 for file in files)
    async with deps.db.unit_of_work() as session:
        if not await ocr_crud.set_pages_total(session=session, job=job, pages_total=total):
            return "superseded"
    offset = 0  # pages of the files before this one
    for file in files:
        count = file.page_count or 0
        if offset + count > job.pages_done:
            path = file.local(workdir)
            if not path.exists():
                await deps.storage.download_to(file.storage_key, path)
            first_page = max(1, job.pages_done - offset + 1)
            if not await _read_file(deps, job, path, file.content_type, offset, first_page, limits, saved):
                return "superseded"  # re-run by the user, or taken over after our lease ran out
            path.unlink(missing_ok=True)
        offset += count
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


@dataclass
class _FileToRead:
    position: int
    storage_key: str
    content_type: str
    page_count: int | None

    @classmethod
    def of(cls, row: DocumentFile) -> _FileToRead:
        return cls(row.position, row.storage_key, row.content_type, row.page_count)

    def local(self, workdir: Path) -> Path:
        return workdir / f"file-{self.position}"


async def _read_file(
    deps: OcrDeps,
    job: ocr_crud.ClaimedJob,
    path: Path,
    content_type: str,
    offset: int,
    first_page: int,
    limits: dict[str, int],
    saved: _Saved,
) -> bool:
    """OCR one file's pages from `first_page` on, saving each as page `offset + n` of the document
    (counted in `saved`); False once the job is no longer this claim's."""
    pages = ocr.read_pages(
        path, content_type, languages=job.languages, engine=deps.engine(), first_page=first_page, **limits
    )
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        if not await _save_page(deps, job, offset + page.number, page):
            return False
        saved.pages += 1
    return True


async def _save_page(deps: OcrDeps, job: ocr_crud.ClaimedJob, number: int, page: ocr.PageText) -> bool:
    """Save page `number`'s row and, when the photo stage made one, its picture (replacing an
    earlier one's); False, and nothing kept, if the job is no longer this claim's."""
    image_key = None if page.image is None else await _store_page_image(deps.storage, page.image)
    row = OcrPage(
        document_id=job.document_id,
        number=number,
        text=page.text,
        confidence=page.confidence,
        source=page.source,
        engine=page.engine,
        languages=page.languages,
        created_at=deps.clock(),
        image_key=image_key,
    )
    saved = False
    try:
        async with deps.db.unit_of_work() as session:
            replaced = await ocr_crud.page_image_keys(session=session, document_id=job.document_id, number=number)
            stored = await ocr_crud.store_page(session=session, job=job, page=row, now=deps.clock(), lease=deps.lease)
            for key in replaced if stored else []:
                after_commit(session, partial(deps.storage.delete, key))
        saved = stored
    finally:
        if not saved and image_key is not None:
            await deps.storage.delete(image_key)
    return saved


async def _store_page_image(storage: Storage, image: Image.Image) -> str:
    """Store the photo stage's page (what the user is shown) and return its key."""
    data = await asyncio.to_thread(ocr.encode_page_image, image)
    key = new_object_key()
    await storage.put_bytes(key, data)
    return key


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
