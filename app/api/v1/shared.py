"""Public share links: no session needed; anything but a live link is 404.

A link's password comes in a POST body (JSON or a form: any Unicode) or, for clients that can
only GET, in `X-Share-Password`. Header values reach us as Latin-1; bytes that are valid UTF-8
(curl's, a script's) are read as UTF-8, but a browser cannot send anything but Latin-1 there,
so a frontend sends non-ASCII passwords in the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.bodies import json_or_form_openapi, parse_json_or_form
from app.api.deps import ClientDep, DatabaseDep, NowDep, PasswordsDep, ReadSessionDep, StorageDep, ThrottleDep
from app.api.streaming import FILE_RESPONSE, file_download
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
_POST_ERRORS = error_responses(400, 403, 404, 413, 415, 422, 429)
_BODY = json_or_form_openapi(LinkPassword, required=False)
# 128 characters of any script, as UTF-8 bytes (each read as one Latin-1 character).
SharePasswordHeader = Annotated[str | None, Header(max_length=4 * 128)]


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


def _from_header(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # Latin-1 text that is not UTF-8: taken as it came
        return value


async def _from_body(request: Request) -> str | None:
    """`password` from a JSON or form body; None when the request has no body."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return None
    return (await parse_json_or_form(request, LinkPassword)).password


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


async def _file(ctx: LinkContext, storage: StorageDep, document: Document) -> Response:
    file = await ocr_crud.get_file(session=ctx.session, document_id=document.id)
    if file is None:
        raise NotFound("This document has no uploaded file", code="no_file")
    return await file_download(storage, file)


@router.get("/{token}", responses=_ERRORS)
async def shared_document(
    token: str, ctx: LinkContextDep, x_share_password: SharePasswordHeader = None
) -> SharedDocumentRead:
    """The shared document's title, text and OCR status. A password goes in `X-Share-Password`."""
    document = await _open(ctx, token, _from_header(x_share_password), "document")
    return await _read(ctx.session, document)


@router.post("/{token}", response_model=SharedDocumentRead, responses=_POST_ERRORS, openapi_extra=_BODY)
async def shared_document_with_password(token: str, request: Request, ctx: LinkContextDep) -> SharedDocumentRead:
    """The same, with the password in a JSON or form body (never in the URL)."""
    document = await _open(ctx, token, await _from_body(request), "document")
    return await _read(ctx.session, document)


@router.get("/{token}/file", response_class=StreamingResponse, responses={**_ERRORS, **FILE_RESPONSE})
async def shared_file(
    token: str, ctx: LinkContextDep, storage: StorageDep, x_share_password: SharePasswordHeader = None
) -> Response:
    """The shared document's original file."""
    document = await _open(ctx, token, _from_header(x_share_password), "file")
    return await _file(ctx, storage, document)


@router.post(
    "/{token}/file",
    response_class=StreamingResponse,
    responses={**_POST_ERRORS, **FILE_RESPONSE},
    openapi_extra=_BODY,
)
async def shared_file_with_password(token: str, request: Request, ctx: LinkContextDep, storage: StorageDep) -> Response:
    """The original file, with the password in a JSON or form body: any Unicode password (an HTML
    form that posts here downloads the file)."""
    document = await _open(ctx, token, await _from_body(request), "file")
    return await _file(ctx, storage, document)
