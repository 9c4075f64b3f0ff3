"""Public share links: no session needed; anything but a live link is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse

from app.api.deps import DatabaseDep, JsonBody, NowDep, PasswordsDep, SessionDep, StorageDep
from app.api.streaming import file_download
from app.core.errors import NotFound
from app.crud import ocr as ocr_crud
from app.models import Document
from app.schemas.common import error_responses
from app.schemas.ocr import OcrSummary
from app.schemas.sharing import LinkPassword, SharedDocumentRead, SharedFileRead
from app.services import sharing as sharing_service

router = APIRouter(prefix="/shared", tags=["share links"])
_ERRORS = error_responses(404, 422, 429)


async def _throttled(request: Request, token: str) -> None:
    await request.app.state.throttle.check_link(token=token)


Throttled = Depends(_throttled)


async def _open(
    session: SessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    token: str,
    password: str | None,
    now: NowDep,
    kind: str,
) -> Document:
    return await sharing_service.open_link(
        session=session, db=db, passwords=passwords, token=token, password=password, now=now, kind=kind
    )


async def _read(session: SessionDep, document: Document) -> SharedDocumentRead:
    file = await ocr_crud.get_file(session=session, document_id=document.id)
    job = await ocr_crud.get_job(session=session, document_id=document.id)
    return SharedDocumentRead(
        title=document.title,
        content=document.content,
        updated_at=document.updated_at,
        ocr=OcrSummary.model_validate(job) if job else None,
        file=SharedFileRead(filename=file.filename, size=file.size, content_type=file.content_type) if file else None,
    )


@router.get("/{token}", responses=_ERRORS, dependencies=[Throttled])
async def shared_document(
    token: str,
    session: SessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    now: NowDep,
    x_share_password: Annotated[str | None, Header(max_length=128)] = None,
) -> SharedDocumentRead:
    """The shared document's title, text and OCR status. A password goes in `X-Share-Password`."""
    document = await _open(session, db, passwords, token, x_share_password, now, "document")
    return await _read(session, document)


@router.post("/{token}", responses=_ERRORS, dependencies=[Throttled, JsonBody])
async def shared_document_with_password(
    token: str,
    session: SessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    now: NowDep,
    body: LinkPassword | None = None,
) -> SharedDocumentRead:
    """The same, with the password in a JSON body (never in the URL)."""
    document = await _open(session, db, passwords, token, body.password if body else None, now, "document")
    return await _read(session, document)


@router.get("/{token}/file", response_class=StreamingResponse, responses=_ERRORS, dependencies=[Throttled])
async def shared_file(
    token: str,
    session: SessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    storage: StorageDep,
    now: NowDep,
    x_share_password: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """The shared document's original file."""
    document = await _open(session, db, passwords, token, x_share_password, now, "file")
    file = await ocr_crud.get_file(session=session, document_id=document.id)
    if file is None:
        raise NotFound("This document has no uploaded file", code="no_file")
    return await file_download(storage, file)
