"""OCR as the API sees it: a document's OCR result, and re-running it."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.crud import ocr as ocr_crud
from app.db.session import after_commit
from app.models import Document
from app.schemas.ocr import OcrPageRead, OcrRead, OcrSummary
from app.services import audit
from app.services.audit import document_target
from app.services.document_access import Access
from app.services.ingest import check_languages
from app.services.ocr_pipeline import Enqueue
from app.storage import Storage


async def get_ocr(*, session: AsyncSession, document: Document) -> OcrRead:
    job = await ocr_crud.get_job(session=session, document_id=document.id)
    if job is None:
        raise NotFound("This document has no uploaded file to OCR", code="no_ocr")
    pages = await ocr_crud.list_pages(session=session, document_id=document.id)
    summary = OcrSummary.model_validate(job)
    return OcrRead(**summary.model_dump(), pages=[OcrPageRead.model_validate(page) for page in pages])


async def rerun_ocr(
    *,
    session: AsyncSession,
    storage: Storage,
    enqueue: Enqueue,
    access: Access,
    languages: str | None,
    default_languages: str,
    installed_languages: list[str],
    now: datetime,
) -> OcrRead:
    """Queue the OCR again (a new generation); Conflict while a run is queued or processing."""
    document = access.document
    job = await ocr_crud.get_job(session=session, document_id=document.id)
    if job is None:
        raise NotFound("This document has no uploaded file to OCR", code="no_ocr")
    chosen = check_languages(languages or job.languages or default_languages, installed_languages)
    pictures = await ocr_crud.page_image_keys(session=session, document_id=document.id)
    generation = await ocr_crud.restart_job(
        session=session, document_id=document.id, languages=chosen, base_version=document.version, now=now
    )
    if generation is None:
        raise Conflict("OCR is already queued or running for this document", code="ocr_in_progress")
    for key in pictures:  # the pages go, and their pictures with them: the new run makes its own
        after_commit(session, partial(storage.delete, key))
    document_id = document.id
    after_commit(session, lambda: enqueue(document_id, generation))
    await audit.record(
        session, "ocr.rerun", actor=access.actor, target=document_target(document_id), details={"languages": chosen}
    )
    return await get_ocr(session=session, document=document)
