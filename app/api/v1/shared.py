"""Public share links: no session needed; anything but a live link is 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    ClientDep,
    DatabaseDep,
    JsonBody,
    NowDep,
    PasswordsDep,
    ReadSessionDep,
    StorageDep,
    ThrottleDep,
)
from app.api.streaming import file_download
from app.core.errors import NotFound
from app.core.security import Passwords
from app.crud import ocr as ocr_crud
from app.db.session import Database
from app.models import Document
from app.schemas.common import error_responses
from app.schemas.ocr import OcrSummary
from app.schemas.sharing import LinkPassword, SharedDocumentRead, SharedFileRead
from app.services import sharing as sharing_service
from app.services.throttle import AuthThrottle

router = APIRouter(prefix="/shared", tags=["share links"])
_ERRORS = error_responses(404, 422, 429)


async def _throttled(request: Request, token: str) -> None:
    await request.app.state.throttle.check_link(token=token)


Throttled = Depends(_throttled)


@dataclass(frozen=True, slots=True)
class LinkContext:
    """What opening a link needs besides the token and the password."""

    session: AsyncSession
    db: Database
    passwords: Passwords
    throttle: AuthThrottle
    ip: str | None
    now: datetime


async def link_context(
    session: ReadSessionDep,
    db: DatabaseDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    client: ClientDep,
    now: NowDep,
) -> LinkContext:
    return LinkContext(session=session, db=db, passwords=passwords, throttle=throttle, ip=client.ip, now=now)


LinkContextDep = Annotated[LinkContext, Depends(link_context)]


async def _open(ctx: LinkContext, token: str, password: str | None, kind: str) -> Document:
    return await sharing_service.open_link(
        session=ctx.session,
        db=ctx.db,
        passwords=ctx.passwords,
        throttle=ctx.throttle,
        token=token,
        password=password,
        ip=ctx.ip,
        now=ctx.now,
        kind=kind,
    )


async def _read(session: AsyncSession, document: Document) -> SharedDocumentRead:
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
    ctx: LinkContextDep,
    x_share_password: Annotated[str | None, Header(max_length=128)] = None,
) -> SharedDocumentRead:
    """The shared document's title, text and OCR status. A password goes in `X-Share-Password`."""
    document = await _open(ctx, token, x_share_password, "document")
    return await _read(ctx.session, document)


@router.post("/{token}", responses=_ERRORS, dependencies=[Throttled, JsonBody])
async def shared_document_with_password(
    token: str, ctx: LinkContextDep, body: LinkPassword | None = None
) -> SharedDocumentRead:
    """The same, with the password in a JSON body (never in the URL)."""
    document = await _open(ctx, token, body.password if body else None, "document")
    return await _read(ctx.session, document)


@router.get("/{token}/file", response_class=StreamingResponse, responses=_ERRORS, dependencies=[Throttled])
async def shared_file(
    token: str,
    ctx: LinkContextDep,
    storage: StorageDep,
    x_share_password: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """The shared document's original file."""
    document = await _open(ctx, token, x_share_password, "file")
    file = await ocr_crud.get_file(session=ctx.session, document_id=document.id)
    if file is None:
        raise NotFound("This document has no uploaded file", code="no_file")
    return await file_download(storage, file)
