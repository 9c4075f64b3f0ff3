"""Uploads, the original file, and OCR."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.api.deps import (
    CurrentUser,
    DatabaseDep,
    EditableDocument,
    IdempotencyKey,
    InstalledLanguagesDep,
    JsonBody,
    NowDep,
    QueueDep,
    ReadableDocument,
    SessionDep,
    SettingsDep,
    StorageDep,
    actor_of,
)
from app.api.middleware import content_length
from app.api.multipart import iter_multipart
from app.api.streaming import FILE_RESPONSE, file_download
from app.core.errors import NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.schemas.common import error_responses
from app.schemas.document import DocumentRead
from app.schemas.ocr import OcrRead, OcrRerun
from app.services import document_reads, ingest, ocr_requests
from app.services.document_access import Access

router = APIRouter(prefix="/documents", tags=["files and OCR"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 255},
                        "languages": {"type": "string", "example": "nep+eng"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentRead,
    responses=error_responses(400, 401, 403, 413, 415, 422),
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    request: Request,
    user: CurrentUser,
    db: DatabaseDep,
    storage: StorageDep,
    queue: QueueDep,
    settings: SettingsDep,
    installed: InstalledLanguagesDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> DocumentRead:
    """Upload a scan or PDF (streamed); its OCR is queued. Types are detected from the bytes.
    With an `Idempotency-Key`, a retry gets the first upload's document (docs/api.md)."""
    document_id = await ingest.upload_document(
        db=db,
        storage=storage,
        enqueue=queue.enqueue_ocr,
        settings=settings,
        actor=actor_of(user),
        parts=iter_multipart(request),
        installed_languages=installed,
        now=now,
        declared_bytes=content_length(request.headers.get("content-length")),
        idempotency_key=idempotency_key,
    )
    async with db.unit_of_work(write=False) as session:
        document = await document_crud.get_visible_document(session=session, user_id=user.id, document_id=document_id)
        if document is None:  # deleted between the upload and this read
            raise NotFound("Document not found")
        return await document_reads.document_read(
            session=session, access=Access(document=document, role="owner", actor=actor_of(user))
        )


@router.get("/{document_id}/ocr", responses=error_responses(401, 404, 422))
async def get_ocr(access: ReadableDocument, session: SessionDep) -> OcrRead:
    """OCR status, progress and per-page text."""
    return await ocr_requests.get_ocr(session=session, document=access.document)


@router.post(
    "/{document_id}/ocr",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    dependencies=[JsonBody],
)
async def rerun_ocr(
    access: EditableDocument,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    installed: InstalledLanguagesDep,
    now: NowDep,
    body: OcrRerun | None = None,
) -> OcrRead:
    """Run OCR again (optionally with other languages); 409 while a run is queued or processing."""
    return await ocr_requests.rerun_ocr(
        session=session,
        enqueue=queue.enqueue_ocr,
        access=access,
        languages=body.languages if body else None,
        default_languages=settings.ocr_default_languages,
        installed_languages=installed,
        now=now,
    )


@router.get(
    "/{document_id}/file",
    response_class=Response,
    responses={**error_responses(401, 404, 422), **FILE_RESPONSE},
)
async def download_file(
    access: ReadableDocument, session: SessionDep, db: DatabaseDep, storage: StorageDep
) -> Response:
    """The original upload, streamed, as an attachment."""
    file = await ocr_crud.get_file(session=session, document_id=access.document.id)
    if file is None:
        raise NotFound("This document has no uploaded file", code="no_file")
    response = await file_download(storage, file)
    await document_reads.note_download(session=session, db=db, access=access)
    return response
