"""Uploads (one file or several photos, and photos appended), the original files, the pages'
pictures, and OCR."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app import ocr
from app.api.deps import (
    CallerDep,
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
    parse_document_id,
)
from app.api.middleware import content_length
from app.api.multipart import iter_multipart
from app.api.streaming import FILE_RESPONSE, file_download, object_response
from app.core.errors import NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.db.session import Database
from app.schemas.common import error_responses
from app.schemas.document import DocumentRead
from app.schemas.ocr import DocumentFileRead, OcrRead, OcrRerun
from app.schemas.types import MAX_INT32
from app.services import document_reads, ingest, ocr_requests, page_append, page_images
from app.services.document_access import Access, load_access
from app.storage import Storage

router = APIRouter(prefix="/documents", tags=["files and OCR"])

_FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}


def _multipart_body(properties: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a streamed multipart body (read by app.api.multipart, not by FastAPI)."""
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


_UPLOAD_BODY = _multipart_body(
    {
        "file": _FILES,
        "title": {"type": "string", "maxLength": 255},
        "languages": {"type": "string", "example": "nep+eng"},
    }
)
_APPEND_BODY = _multipart_body({"file": _FILES})
FilePosition = Annotated[int, Path(ge=1, le=MAX_INT32)]
PageNumber = Annotated[int, Path(ge=1, le=MAX_INT32)]
PAGE_IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The page's picture",
        "content": {ocr.PAGE_IMAGE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not modified (If-None-Match named the ETag)"},
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
    """Upload a scan or PDF, or several photos as one document's pages in order (repeat `file`);
    streamed, its OCR queued. Types are detected from the bytes; a PDF comes on its own. With an
    `Idempotency-Key`, a retry gets the first upload's document (docs/api.md)."""
    document_id = await ingest.upload_document(
        db=db,
        storage=storage,
        enqueue=queue.enqueue_ocr,
        settings=settings,
        actor=actor_of(user),
        # Room for every file and field, so that too many files is said as such (too_many_files).
        parts=iter_multipart(request, max_parts=settings.max_files_per_document + 3),
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


@router.post(
    "/{document_id}/pages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentRead,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_APPEND_BODY,
)
async def append_pages(
    document_id: str,
    request: Request,
    caller: CallerDep,
    storage: StorageDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> DocumentRead:
    """Add photos (repeat `file`) after the upload's last page (owner or editor); OCR runs for
    the new pages alone."""
    target = parse_document_id(document_id)
    await page_append.append_files(
        db=caller.db,
        storage=storage,
        enqueue=queue.enqueue_ocr,
        settings=settings,
        actor=caller.actor,
        document_id=target,
        parts=iter_multipart(request, max_parts=settings.max_files_per_document + 1),
        now=caller.now,
        declared_bytes=content_length(request.headers.get("content-length")),
    )
    async with caller.db.unit_of_work(write=False) as session:
        access = await load_access(session=session, actor=caller.actor, document_id=target)
        return await document_reads.document_read(session=session, access=access)


@router.get("/{document_id}/files", responses=error_responses(401, 404, 422))
async def list_files(access: ReadableDocument, session: SessionDep) -> list[DocumentFileRead]:
    """The document's files in page order (one for most uploads; the photos of a multi-photo one)."""
    files = await ocr_crud.list_files(session=session, document_id=access.document.id)
    return [DocumentFileRead.model_validate(file) for file in files]


@router.get(
    "/{document_id}/files/{position}",
    response_class=Response,
    responses={**error_responses(401, 404, 422), **FILE_RESPONSE},
)
async def download_file_at(
    access: ReadableDocument, position: FilePosition, session: SessionDep, db: DatabaseDep, storage: StorageDep
) -> Response:
    """One of the document's original files, by its position (1 is what `/file` sends)."""
    return await _download(access, session, db, storage, position)


@router.get(
    "/{document_id}/pages/{number}/image",
    response_class=Response,
    responses={**error_responses(401, 404, 422), **PAGE_IMAGE_RESPONSE},
)
async def page_image(
    access: ReadableDocument,
    number: PageNumber,
    session: SessionDep,
    db: DatabaseDep,
    storage: StorageDep,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The page as shown: a photo's page flattened by the photo stage, else the page drawn from the
    original file (PNG). `ETag`; `Cache-Control: private, no-cache` (revalidate: access may change)."""
    image = await page_images.page_image(
        session=session, db=db, storage=storage, settings=settings, document_id=access.document.id, number=number
    )
    headers = {"etag": image.etag, "cache-control": "private, no-cache"}
    if if_none_match is not None and image.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if image.data is not None:
        return Response(image.data, media_type=ocr.PAGE_IMAGE_MEDIA_TYPE, headers=headers)
    return await object_response(storage, image.key, media_type=ocr.PAGE_IMAGE_MEDIA_TYPE, headers=headers)


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
    storage: StorageDep,
    queue: QueueDep,
    settings: SettingsDep,
    installed: InstalledLanguagesDep,
    now: NowDep,
    body: OcrRerun | None = None,
) -> OcrRead:
    """Run OCR again (optionally with other languages); 409 while a run is queued or processing."""
    return await ocr_requests.rerun_ocr(
        session=session,
        storage=storage,
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
    """The original upload (a multi-photo document's first photo), streamed, as an attachment."""
    return await _download(access, session, db, storage, 1)


async def _download(access: Access, session: AsyncSession, db: Database, storage: Storage, position: int) -> Response:
    file = await ocr_crud.get_file(session=session, document_id=access.document.id, position=position)
    if file is None:
        raise NotFound("This document has no uploaded file there", code="no_file")
    response = await file_download(storage, file)
    await document_reads.note_download(session=session, db=db, access=access)
    return response
