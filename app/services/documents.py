"""Document edits with optimistic concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.db.session import after_commit
from app.models import Document
from app.schemas.document import DocumentRead
from app.schemas.ocr import FileRead, OcrSummary
from app.storage import Storage


def _conflict(current_version: int) -> Conflict:
    return Conflict(
        "The document was changed by someone else; reload it and try again",
        code="version_conflict",
        current_version=current_version,
    )


async def edit_document(
    *,
    session: AsyncSession,
    document: Document,
    changes: dict[str, Any],
    expected_versions: list[int],
    now: datetime,
) -> Document:
    """Apply `changes` if every version the client named is the current one.

    A request that changes nothing leaves the version alone; any real change bumps it by one.
    """
    if any(v != document.version for v in expected_versions):
        raise _conflict(document.version)
    changes = {key: value for key, value in changes.items() if getattr(document, key) != value}
    if not changes:
        return document
    expected = expected_versions[0] if expected_versions else None
    updated = await document_crud.update_document_if_version(
        session=session, document_id=document.id, expected_version=expected, values=changes, now=now
    )
    if updated is None:
        current = await document_crud.get_document_version(session=session, document_id=document.id)
        if current is None:
            raise NotFound("Document not found")
        raise _conflict(current)
    return updated


async def document_read(*, session: AsyncSession, document: Document) -> DocumentRead:
    """The full view of a document: content, its file and its OCR status."""
    file = await ocr_crud.get_file(session=session, document_id=document.id)
    job = await ocr_crud.get_job(session=session, document_id=document.id)
    read = DocumentRead.model_validate(document)
    read.file = FileRead.model_validate(file) if file else None
    read.ocr = OcrSummary.model_validate(job) if job else None
    return read


async def delete_document(*, session: AsyncSession, storage: Storage, document: Document) -> None:
    """Delete the row (pages, job and file row cascade) and, once that is committed, the object."""
    file = await ocr_crud.get_file(session=session, document_id=document.id)
    await document_crud.delete_document(session=session, document_id=document.id)
    if file is not None:
        key = file.storage_key
        after_commit(session, lambda: storage.delete(key))
