"""Duplicate: a copy owned by the caller, with its files and its OCR result, recorded on both
documents' trails."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.core.errors import NotFound
from app.crud import ocr as ocr_crud
from app.db.session import after_commit
from app.models import Document, OcrPage
from app.services import audit, document_writes
from app.services.audit import document_target
from app.services.document_access import Access, ensure_not_trashed
from app.services.ocr_pipeline import Enqueue
from app.storage import Storage, StorageNotFound, new_object_key

_SUFFIX = " (copy)"


def copy_title(title: str) -> str:
    return title[: 255 - len(_SUFFIX)] + _SUFFIX


async def _copy_page_images(session: AsyncSession, storage: Storage, pages: list[OcrPage], copy_id: uuid.UUID) -> None:
    """The copy's pages get pictures of their own. One missing from storage is left out: that page
    is then drawn from the copy's original file when asked for."""
    for page in pages:
        if page.image_key is None:
            continue
        key = new_object_key()
        try:
            await storage.copy(page.image_key, key)
        except StorageNotFound:
            continue
        await ocr_crud.set_page_image(session=session, document_id=copy_id, number=page.number, image_key=key)


async def duplicate_document(
    *, session: AsyncSession, storage: Storage, enqueue: Enqueue, access: Access, now: datetime
) -> Document:
    """The copy (app.services.document_writes.create, indexed with the source's OCR pages when
    its OCR has finished, for they are copied too), its file and OCR job."""
    source = access.document
    ensure_not_trashed(source)
    files = await ocr_crud.list_files(session=session, document_id=source.id)
    job = await ocr_crud.get_job(session=session, document_id=source.id) if files else None
    finished = job is not None and job.status in ocr_crud.FINISHED
    pages = await ocr_crud.list_pages(session=session, document_id=source.id) if finished else []
    copy_id, title, dialect = uuid.uuid4(), copy_title(source.title), session.get_bind().dialect.name
    texts = [(page.number, page.text) for page in pages]
    index = await search.index_values(dialect, title=title, content=source.content, pages=texts)
    event = audit.event_values(
        "document.duplicate", actor=access.actor, target=document_target(copy_id), details={"source_id": str(source.id)}
    )
    params = document_writes.create_params(
        document_id=copy_id,
        owner_id=access.actor.id,
        title=title,
        content=source.content,
        now=now,
        index=index,
        event=event,
    )
    await document_writes.create(dialect).run(session, params)
    if files:
        keys = [new_object_key() for _ in files]
        for done, (file, key) in enumerate(zip(files, keys, strict=True)):
            try:
                await storage.copy(file.storage_key, key)
            except StorageNotFound:  # gone from storage (or purged meanwhile): the copy is not made
                for made in keys[:done]:
                    await storage.delete(made)
                raise NotFound("The file is missing from storage", code="file_missing") from None
        for file, key in zip(files, keys, strict=True):
            await ocr_crud.create_file(
                session=session,
                document_id=copy_id,
                position=file.position,
                page_count=file.page_count,
                storage_key=key,
                filename=file.filename,
                size=file.size,
                content_type=file.content_type,
                sha256=file.sha256,
                now=now,
            )
        if job is not None and finished:
            await ocr_crud.copy_finished_job(session=session, source=job, document_id=copy_id, now=now)
            await _copy_page_images(session, storage, pages, copy_id)
        elif job is not None:
            await ocr_crud.create_job(
                session=session, document_id=copy_id, languages=job.languages, base_version=1, now=now
            )
            after_commit(session, lambda: enqueue(copy_id, 1))
    # On the source's too: its owner sees who copied it, and when, whatever their role.
    await audit.record(
        session,
        "document.duplicate",
        actor=access.actor,
        target=document_target(source.id),
        details={"copy_id": str(copy_id)},
    )
    await session.flush()
    copy = await session.get(Document, copy_id)
    if copy is None:
        raise RuntimeError("the copy just written is not there")
    return copy
