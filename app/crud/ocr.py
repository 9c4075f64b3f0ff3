"""Uploaded files, OCR jobs and pages: data access only.

Job transitions are single UPDATE statements whose WHERE clause names the state they leave, so two
workers (or a worker and the reaper) can never both win the same transition.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.document import add_version
from app.db.prepared import PreparedQuery
from app.db.rows import rows_changed
from app.db.session import Database
from app.models import Document, DocumentFile, OcrJob, OcrPage

ACTIVE = ("queued", "processing")
FINISHED = ("done", "failed")


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    document_id: uuid.UUID
    generation: int
    languages: str
    attempts: int
    claims: int
    crashes: int
    pages_done: int
    storage_key: str
    content_type: str


async def create_file(
    *,
    session: AsyncSession,
    document_id: uuid.UUID,
    storage_key: str,
    filename: str,
    size: int,
    content_type: str,
    sha256: str,
    now: datetime,
    position: int = 1,
    page_count: int | None = None,
) -> DocumentFile:
    row = DocumentFile(
        document_id=document_id,
        position=position,
        page_count=page_count,
        storage_key=storage_key,
        filename=filename,
        size=size,
        content_type=content_type,
        sha256=sha256,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get_file(*, session: AsyncSession, document_id: uuid.UUID, position: int = 1) -> DocumentFile | None:
    """The document's file at `position`; the first file (the one upload, for most) by default."""
    return await session.get(DocumentFile, (document_id, position))


async def list_files(*, session: AsyncSession, document_id: uuid.UUID) -> list[DocumentFile]:
    """The document's files in page order."""
    stmt = select(DocumentFile).where(DocumentFile.document_id == document_id).order_by(DocumentFile.position)
    return list((await session.scalars(stmt)).all())


async def stored_keys(*, session: AsyncSession, document_id: uuid.UUID) -> list[str]:
    """Every object the document has in storage: its files and its pages' pictures."""
    files = select(DocumentFile.storage_key).where(DocumentFile.document_id == document_id)
    return list((await session.scalars(files)).all()) + await page_image_keys(session=session, document_id=document_id)


async def page_image_keys(*, session: AsyncSession, document_id: uuid.UUID, number: int | None = None) -> list[str]:
    """The stored pictures of the document's pages (of page `number` alone, if given)."""
    stmt = select(OcrPage.image_key).where(OcrPage.document_id == document_id, OcrPage.image_key.is_not(None))
    if number is not None:
        stmt = stmt.where(OcrPage.number == number)
    return [key for key in (await session.scalars(stmt)).all() if key is not None]


async def get_page(*, session: AsyncSession, document_id: uuid.UUID, number: int) -> OcrPage | None:
    return await session.get(OcrPage, (document_id, number))


async def set_page_image(*, session: AsyncSession, document_id: uuid.UUID, number: int, image_key: str) -> bool:
    """Record a page's picture if it has none yet; False if it has one (or the page is gone)."""
    statement = (
        update(OcrPage)
        .where(OcrPage.document_id == document_id, OcrPage.number == number, OcrPage.image_key.is_(None))
        .values(image_key=image_key)
    )
    return await rows_changed(session=session, statement=statement) == 1


async def count_files(*, session: AsyncSession, document_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(DocumentFile).where(DocumentFile.document_id == document_id)
    return await session.scalar(stmt) or 0


async def set_page_count(*, session: AsyncSession, document_id: uuid.UUID, position: int, page_count: int) -> None:
    """Record how many pages a file has (a fact of its bytes: the same whoever counts it)."""
    await session.execute(
        update(DocumentFile)
        .where(DocumentFile.document_id == document_id, DocumentFile.position == position)
        .values(page_count=page_count)
    )


async def create_job(
    *, session: AsyncSession, document_id: uuid.UUID, languages: str, base_version: int, now: datetime
) -> OcrJob:
    job = OcrJob(
        document_id=document_id,
        generation=1,
        status="queued",
        languages=languages,
        attempts=0,
        base_version=base_version,
        pages_done=0,
        queued_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(*, session: AsyncSession, document_id: uuid.UUID) -> OcrJob | None:
    return await session.get(OcrJob, document_id, populate_existing=True)


_PAGE_TEXTS = PreparedQuery(
    select(OcrPage.number, OcrPage.text)
    .where(OcrPage.document_id == bindparam("document_id", type_=OcrPage.document_id.type))
    .order_by(OcrPage.number)
)


async def page_texts(*, db: Database, document_id: uuid.UUID) -> list[tuple[int, str]]:
    """A document's OCR pages as (number, text), on their own connection."""
    return [(row["number"], row["text"]) for row in await _PAGE_TEXTS.all(db, document_id=document_id)]


async def list_pages(*, session: AsyncSession, document_id: uuid.UUID) -> list[OcrPage]:
    stmt = select(OcrPage).where(OcrPage.document_id == document_id).order_by(OcrPage.number)
    return list((await session.scalars(stmt)).all())


def joined_text(pages: list[OcrPage]) -> str:
    """The document content OCR makes of its pages."""
    return "\n\n".join(page.text for page in pages)


async def restart_job(
    *, session: AsyncSession, document_id: uuid.UUID, languages: str, base_version: int, now: datetime
) -> int | None:
    """Queue a finished job again (a new generation, no pages); None if it is still active."""
    stmt = (
        update(OcrJob)
        .where(OcrJob.document_id == document_id, OcrJob.status.in_(FINISHED))
        .values(
            generation=OcrJob.generation + 1,
            status="queued",
            languages=languages,
            attempts=0,
            crashes=0,
            worker_id=None,
            error=None,
            base_version=base_version,
            pages_total=None,
            pages_done=0,
            queued_at=now,
            started_at=None,
            finished_at=None,
            lease_expires_at=None,
        )
        .returning(OcrJob.generation)
    )
    generation = await session.scalar(stmt)
    if generation is not None:
        await session.execute(delete(OcrPage).where(OcrPage.document_id == document_id))
    return generation


async def queue_new_pages(
    *, session: AsyncSession, document_id: uuid.UUID, base_version: int | None, now: datetime
) -> int | None:
    """Queue the job again for files just added: a new generation (a worker on the old one stops at
    its next page) that resumes after the pages already done, which stay as they are. With
    `base_version` None the content is not replaced when it finishes. None if there is no job."""
    values: dict[str, object] = {
        "generation": OcrJob.generation + 1,
        "status": "queued",
        "attempts": 0,
        "crashes": 0,
        "worker_id": None,
        "error": None,
        "pages_total": None,
        "queued_at": now,
        "started_at": None,
        "finished_at": None,
        "lease_expires_at": None,
    }
    if base_version is not None:
        values["base_version"] = base_version
    stmt = update(OcrJob).where(OcrJob.document_id == document_id).values(values).returning(OcrJob.generation)
    return await session.scalar(stmt)


async def claim_job(
    *,
    session: AsyncSession,
    document_id: uuid.UUID,
    generation: int,
    now: datetime,
    lease: timedelta,
    worker_id: str | None = None,
) -> ClaimedJob | None:
    """Take a queued job, or one whose worker's lease ran out; None if someone else has it.

    A queued job's claim is an attempt; taking over a run whose lease ran out is not (its worker
    died or hung: the file did not fail), it is a crash of that run."""
    was_processing = OcrJob.status == "processing"
    claimable = or_(OcrJob.status == "queued", was_processing & (OcrJob.lease_expires_at < now))
    stmt = (
        update(OcrJob)
        .where(OcrJob.document_id == document_id, OcrJob.generation == generation, claimable)
        .values(
            status="processing",
            claims=OcrJob.claims + 1,
            attempts=OcrJob.attempts + case((was_processing, 0), else_=1),
            crashes=OcrJob.crashes + case((was_processing, 1), else_=0),
            worker_id=worker_id,
            started_at=now,
            finished_at=None,
            lease_expires_at=now + lease,
        )
        .returning(OcrJob.languages, OcrJob.attempts, OcrJob.claims, OcrJob.crashes, OcrJob.pages_done)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    file = await get_file(session=session, document_id=document_id)
    if file is None:
        return None
    return ClaimedJob(
        document_id=document_id,
        generation=generation,
        languages=row.languages,
        attempts=row.attempts,
        claims=row.claims,
        crashes=row.crashes,
        pages_done=row.pages_done,
        storage_key=file.storage_key,
        content_type=file.content_type,
    )


def _owned(job: ClaimedJob) -> ColumnElement[bool]:
    """Still this claim's job: same run, still processing, and not taken over since (`claims`
    goes up with every claim, so a worker that stalled past its lease cannot write any more)."""
    return (
        (OcrJob.document_id == job.document_id)
        & (OcrJob.generation == job.generation)
        & (OcrJob.claims == job.claims)
        & (OcrJob.status == "processing")
    )


async def set_pages_total(*, session: AsyncSession, job: ClaimedJob, pages_total: int) -> bool:
    statement = update(OcrJob).where(_owned(job)).values(pages_total=pages_total)
    return await rows_changed(session=session, statement=statement) == 1


async def store_page(*, session: AsyncSession, job: ClaimedJob, page: OcrPage, now: datetime, lease: timedelta) -> bool:
    """Save one page and renew the lease; False if the job is no longer this claim's. A page saved
    is progress: the crashes before it were not this file's doing, and the count starts again."""
    statement = (
        update(OcrJob).where(_owned(job)).values(pages_done=page.number, crashes=0, lease_expires_at=now + lease)
    )
    if await rows_changed(session=session, statement=statement) != 1:
        return False
    # Delete-then-insert keeps a page written twice (a job run again) to one row, on both databases.
    await session.execute(delete(OcrPage).where(OcrPage.document_id == job.document_id, OcrPage.number == page.number))
    session.add(page)
    await session.flush()
    return True


async def finish_job(*, session: AsyncSession, job: ClaimedJob, now: datetime) -> bool:
    """Mark done; the pages' text becomes the content unless the user edited it since queueing.

    The document's row is locked first (as a delete or an edit locks it before the job's row,
    which it cascades to or reads), then the job's: the other order deadlocks with a permanent
    delete. The lock is held until the caller commits, across its re-index of the document."""
    document_id = job.document_id
    await session.execute(select(Document.id).where(Document.id == document_id).with_for_update(key_share=True))
    base_version = await session.scalar(
        update(OcrJob)
        .where(_owned(job))
        .values(status="done", finished_at=now, lease_expires_at=None, error=None)
        .returning(OcrJob.base_version)
    )
    if base_version is None:
        return False
    text = joined_text(await list_pages(session=session, document_id=document_id))
    replaced = await session.scalar(
        update(Document)
        .where(Document.id == document_id, Document.version == base_version)
        .values(content=text, version=Document.version + 1, updated_at=now, updated_by=None)
        .returning(Document)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if replaced is not None:
        await add_version(session=session, document=replaced, author_id=None)
    return True


async def fail_job(*, session: AsyncSession, job: ClaimedJob, error: str, now: datetime) -> bool:
    statement = (
        update(OcrJob)
        .where(_owned(job))
        .values(status="failed", error=error[:2000], finished_at=now, lease_expires_at=None)
    )
    return await rows_changed(session=session, statement=statement) == 1


async def release_for_retry(*, session: AsyncSession, job: ClaimedJob, error: str) -> bool:
    statement = (
        update(OcrJob)
        .where(_owned(job))
        .values(status="queued", error=error[:2000], lease_expires_at=None, worker_id=None)
    )
    return await rows_changed(session=session, statement=statement) == 1


# A run cut short by its worker or engine dying: queued again, its attempt given back, one more crash.
_CRASHED = {
    "status": "queued",
    "attempts": OcrJob.attempts - 1,
    "crashes": OcrJob.crashes + 1,
    "lease_expires_at": None,
    "worker_id": None,
}


async def release_after_crash(*, session: AsyncSession, job: ClaimedJob, error: str, now: datetime) -> bool:
    """Queue again a run whose engine died under it: not an attempt of the file, one more crash."""
    statement = update(OcrJob).where(_owned(job)).values(**_CRASHED, error=error[:2000], queued_at=now)
    return await rows_changed(session=session, statement=statement) == 1


async def take_back_jobs(*, session: AsyncSession, worker_ids: list[str], now: datetime) -> list[tuple[uuid.UUID, int]]:
    """Queue again the jobs that the given (dead) workers held, as crashes; their (id, generation)."""
    if not worker_ids:
        return []
    stmt = (
        update(OcrJob)
        .where(OcrJob.status == "processing", OcrJob.worker_id.in_(worker_ids))
        .values(**_CRASHED, queued_at=now)
        .returning(OcrJob.document_id, OcrJob.generation)
    )
    return [(row.document_id, row.generation) for row in await session.execute(stmt)]


async def list_queued(
    *, session: AsyncSession, queued_before: datetime, limit: int = 1000
) -> list[tuple[uuid.UUID, int]]:
    """Queued jobs (id, generation), oldest first."""
    stmt = (
        select(OcrJob.document_id, OcrJob.generation)
        .where(OcrJob.status == "queued", OcrJob.queued_at < queued_before)
        .order_by(OcrJob.queued_at)
        .limit(limit)
    )
    return [(row.document_id, row.generation) for row in await session.execute(stmt)]


async def count_queued(*, session: AsyncSession) -> int:
    """OCR jobs waiting for a worker."""
    return await session.scalar(select(func.count()).select_from(OcrJob).where(OcrJob.status == "queued")) or 0


async def find_stalled_jobs(
    *, session: AsyncSession, now: datetime, queued_before: datetime, limit: int = 500
) -> list[tuple[uuid.UUID, int]]:
    """Jobs whose worker died (lease ran out) or whose enqueue was lost (queued too long)."""
    stmt = (
        select(OcrJob.document_id, OcrJob.generation)
        .where(
            or_(
                (OcrJob.status == "processing") & (OcrJob.lease_expires_at < now),
                (OcrJob.status == "queued") & (OcrJob.queued_at < queued_before),
            )
        )
        .limit(limit)
    )
    return [(row.document_id, row.generation) for row in await session.execute(stmt)]


async def touch_queued(*, session: AsyncSession, document_id: uuid.UUID, generation: int, now: datetime) -> None:
    """Restart the 'queued too long' clock of a job that was just enqueued again."""
    await session.execute(
        update(OcrJob)
        .where(OcrJob.document_id == document_id, OcrJob.generation == generation, OcrJob.status == "queued")
        .values(queued_at=now)
    )


async def copy_finished_job(*, session: AsyncSession, source: OcrJob, document_id: uuid.UUID, now: datetime) -> None:
    """Give a duplicate the source's finished OCR result: its job state and its pages."""
    session.add(
        OcrJob(
            document_id=document_id,
            generation=1,
            status=source.status,
            languages=source.languages,
            attempts=source.attempts,
            error=source.error,
            base_version=1,
            pages_total=source.pages_total,
            pages_done=source.pages_done,
            queued_at=now,
            started_at=source.started_at,
            finished_at=source.finished_at,
        )
    )
    for page in await list_pages(session=session, document_id=source.document_id):
        session.add(
            OcrPage(
                document_id=document_id,
                number=page.number,
                text=page.text,
                confidence=page.confidence,
                source=page.source,
                engine=page.engine,
                languages=page.languages,
                created_at=page.created_at,
            )
        )
    await session.flush()


async def count_jobs_by_status(*, session: AsyncSession) -> dict[str, int]:
    """How many OCR jobs are in each status."""
    rows = await session.execute(select(OcrJob.status, func.count()).group_by(OcrJob.status))
    return {status: count for status, count in rows}


async def seconds_per_page_since(*, session: AsyncSession, since: datetime) -> float:
    """Mean OCR seconds per page of the jobs finished since `since` (0 when none)."""
    rows = (
        await session.execute(
            select(OcrJob.started_at, OcrJob.finished_at, OcrJob.pages_total).where(
                OcrJob.status == "done", OcrJob.finished_at >= since, OcrJob.pages_total > 0
            )
        )
    ).all()
    seconds = sum((r.finished_at - r.started_at).total_seconds() for r in rows if r.started_at)
    pages = sum(r.pages_total for r in rows)
    return seconds / pages if pages else 0.0
