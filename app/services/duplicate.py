"""Duplicate: a copy owned by the caller, with its file and its OCR result, recorded on both
documents' trails."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.core.errors import NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.db.session import after_commit
from app.models import Document
from app.services import audit
from app.services.audit import document_target
from app.services.documents import Access, ensure_not_trashed
from app.services.ocr_pipeline import Enqueue
from app.storage import Storage, StorageNotFound, new_object_key

_SUFFIX = " (copy)"


def copy_title(title: str) -> str:
    return title[: 255 - len(_SUFFIX)] + _SUFFIX


async def duplicate_document(
    *, session: AsyncSession, storage: Storage, enqueue: Enqueue, access: Access, now: datetime
) -> Document:
    source = access.document
    ensure_not_trashed(source)
    copy = await document_crud.create_document(
        session=session, owner_id=access.actor.id, title=copy_title(source.title), content=source.content, now=now
    )
    file = await ocr_crud.get_file(session=session, document_id=source.id)
    if file is not None:
        key = new_object_key()
        try:
            await storage.copy(file.storage_key, key)
        except StorageNotFound:  # gone from storage (or purged meanwhile): the copy is not made
            raise NotFound("The file is missing from storage", code="file_missing") from None
        await ocr_crud.create_file(
            session=session,
            document_id=copy.id,
            storage_key=key,
            filename=file.filename,
            size=file.size,
            content_type=file.content_type,
            sha256=file.sha256,
            now=now,
        )
        job = await ocr_crud.get_job(session=session, document_id=source.id)
        if job is not None and job.status in ocr_crud.FINISHED:
            await ocr_crud.copy_finished_job(session=session, source=job, document_id=copy.id, now=now)
        elif job is not None:
            await ocr_crud.create_job(
                session=session, document_id=copy.id, languages=job.languages, base_version=1, now=now
            )
            copy_id = copy.id
            after_commit(session, lambda: enqueue(copy_id, 1))
    await search.reindex_document(session, document_id=copy.id)
    await audit.record(
        session,
        "document.duplicate",
        actor=access.actor,
        target=document_target(copy.id),
        details={"source_id": str(source.id)},
    )
    # On the source's too: its owner sees who copied it, and when, whatever their role.
    await audit.record(
        session,
        "document.duplicate",
        actor=access.actor,
        target=document_target(source.id),
        details={"copy_id": str(copy.id)},
    )
    return copy
