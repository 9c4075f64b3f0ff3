"""Append photos to an upload: new files after the last, OCR queued for their pages alone.

The pages already read keep their text and rows: the job is queued again as a new generation
that resumes after them (a worker still on the old one stops at its next page). The document
changes as an edit does (a new version, `updated_at`, `updated_by`, a history entry); when the
new pages are read, its content becomes all the pages' text unless someone edited it since the
last OCR, and the search index is rebuilt with them (app.services.ocr_pipeline).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import AppError, NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.db.session import Database, after_commit
from app.models import Document, OcrJob
from app.services import audit
from app.services.audit import Actor, document_target
from app.services.document_access import ensure_allowed, ensure_not_trashed, load_access
from app.services.ingest import UploadRules, add_files, check_declared_size, read_files, too_many_files
from app.services.ocr_pipeline import Enqueue
from app.services.upload_parts import Part
from app.storage import Storage

log = logging.getLogger(__name__)


async def append_files(
    *,
    db: Database,
    storage: Storage,
    enqueue: Enqueue,
    settings: Settings,
    actor: Actor,
    document_id: uuid.UUID,
    parts: AsyncIterator[Part],
    now: datetime,
    declared_bytes: int | None = None,
) -> None:
    """Add the request's photos as the document's next files and queue their OCR.

    NotFound unless the caller sees the document and it has an upload; Forbidden below editor;
    Conflict in the trash; refusals audited as `upload.rejected`, as an upload's are.
    """
    try:
        check_declared_size(declared_bytes, settings)
        async with db.unit_of_work(write=False) as session:
            room = await _room_for_files(session, actor, document_id, settings)
        rules = UploadRules(fields=frozenset(), max_files=room, photos_only=True)
        files, _ = await read_files(parts, storage, settings, rules)
    except AppError as exc:
        await audit.record_alone(db, "upload.rejected", actor=actor, details={"code": exc.code})
        raise
    try:
        async with db.unit_of_work() as session:
            document = await document_crud.lock_document(session=session, document_id=document_id)
            if document is None:
                raise NotFound("Document not found")  # purged while the photos streamed in
            ensure_not_trashed(document)
            existing = await ocr_crud.count_files(session=session, document_id=document_id)
            if existing + len(files) > settings.max_files_per_document:
                raise too_many_files(settings)  # another append won the race for the room left
            await add_files(session=session, document_id=document_id, files=files, first_position=existing + 1, now=now)
            generation = await _queue_new_pages(session, document, actor, now)
            await audit.record(
                session,
                "document.pages_added",
                actor=actor,
                target=document_target(document_id),
                details={"files": len(files), "first_position": existing + 1},
            )
            after_commit(session, lambda: enqueue(document_id, generation))
    except BaseException:
        for file in files:
            await storage.delete(file.key)
        raise
    log.info("document.pages_added document_id=%s files=%d", document_id, len(files))


async def _room_for_files(session: AsyncSession, actor: Actor, document_id: uuid.UUID, settings: Settings) -> int:
    """How many files the caller may add, checked before any byte is stored."""
    access = await load_access(session=session, actor=actor, document_id=document_id)
    ensure_allowed(access.role, trashed=access.document.trashed_at is not None, permission="edit")
    existing = await ocr_crud.count_files(session=session, document_id=document_id)
    if existing == 0:
        raise NotFound("This document has no uploaded file to add pages to", code="no_file")
    if existing >= settings.max_files_per_document:
        raise too_many_files(settings)
    return settings.max_files_per_document - existing


async def _queue_new_pages(session: AsyncSession, document: Document, actor: Actor, now: datetime) -> int:
    """Record the change as an edit (new version) and queue the job again; its generation."""
    job = await ocr_crud.get_job(session=session, document_id=document.id)
    if job is None:
        raise NotFound("This document has no uploaded file to add pages to", code="no_file")
    keeps_ocr_text = await _content_is_ocr_text(session, document, job)
    document.version += 1
    document.updated_at = now
    document.updated_by = actor.id
    await session.flush()
    await document_crud.add_version(session=session, document=document, author_id=actor.id)
    generation = await ocr_crud.queue_new_pages(
        session=session, document_id=document.id, base_version=document.version if keeps_ocr_text else None, now=now
    )
    if generation is None:
        raise NotFound("This document has no uploaded file to add pages to", code="no_file")
    return generation


async def _content_is_ocr_text(session: AsyncSession, document: Document, job: OcrJob) -> bool:
    """Whether the content is still OCR's (so the new pages' text may be joined to it): nobody
    changed the document since the job was queued, or the job is done and the content is its text."""
    if document.version == job.base_version:
        return True
    pages = await ocr_crud.list_pages(session=session, document_id=document.id)
    return job.status == "done" and document.content == ocr_crud.joined_text(pages)
