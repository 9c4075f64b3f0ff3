from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.api.deps import CurrentUser, EditableDocument, JsonBody, NowDep, ReadableDocument, SessionDep, StorageDep
from app.core.errors import Invalid
from app.crud import document as document_crud
from app.schemas.common import Page, error_responses
from app.schemas.document import DocumentCreate, DocumentRead, DocumentReplace, DocumentSummary, DocumentUpdate
from app.schemas.types import MAX_INT32
from app.services import documents as document_service

router = APIRouter(prefix="/documents", tags=["documents"])
_ITEM_ERRORS = error_responses(401, 404, 422)
_VERSION_TAG = re.compile(r"[0-9]{1,10}")


def _if_match_version(if_match: str | None) -> list[int]:
    """`If-Match: "3"` (or `W/"3"`, or `*`) as a list of the versions it names."""
    if if_match is None or if_match.strip() == "*":
        return []
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not _VERSION_TAG.fullmatch(tag):
        raise Invalid('If-Match must name a version, e.g. "3"', code="invalid_if_match")
    return [int(tag)]


def _etag(response: Response, version: int) -> None:
    response.headers["etag"] = f'"{version}"'


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=error_responses(401, 403, 413, 415, 422), dependencies=[JsonBody]
)
async def create_document(
    document_in: DocumentCreate, user: CurrentUser, session: SessionDep, now: NowDep, response: Response
) -> DocumentRead:
    document = await document_crud.create_document(
        session=session, owner_id=user.id, title=document_in.title, content=document_in.content, now=now
    )
    _etag(response, document.version)
    return await document_service.document_read(session=session, document=document)


@router.get("", responses=error_responses(401, 422))
async def list_documents(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
) -> Page[DocumentSummary]:
    """The caller's documents, most recently updated first (summaries, without content)."""
    items, total = await document_crud.list_visible_documents(
        session=session, user_id=user.id, limit=limit, offset=offset
    )
    return Page[DocumentSummary](
        items=[DocumentSummary.model_validate(item) for item in items], total=total, limit=limit, offset=offset
    )


@router.get("/{document_id}", responses=_ITEM_ERRORS)
async def get_document(document: ReadableDocument, session: SessionDep, response: Response) -> DocumentRead:
    """The document with its content, file and OCR status."""
    _etag(response, document.version)
    return await document_service.document_read(session=session, document=document)


@router.patch("/{document_id}", responses=error_responses(401, 403, 404, 409, 413, 415, 422), dependencies=[JsonBody])
async def patch_document(
    changes: DocumentUpdate,
    document: EditableDocument,
    session: SessionDep,
    now: NowDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentRead:
    """Change title and/or content. Name the version you edited (body or If-Match) to get 409 on a conflict."""
    named = [changes.version] if changes.version is not None else []
    updated = await document_service.edit_document(
        session=session,
        document=document,
        changes=changes.model_dump(exclude_unset=True, exclude={"version"}, exclude_none=True),
        expected_versions=named + _if_match_version(if_match),
        now=now,
    )
    _etag(response, updated.version)
    return await document_service.document_read(session=session, document=updated)


@router.put("/{document_id}", responses=error_responses(401, 403, 404, 409, 413, 415, 422), dependencies=[JsonBody])
async def replace_document(
    replacement: DocumentReplace,
    document: EditableDocument,
    session: SessionDep,
    now: NowDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentRead:
    """Replace title and content (content defaults to empty)."""
    named = [replacement.version] if replacement.version is not None else []
    updated = await document_service.edit_document(
        session=session,
        document=document,
        changes={"title": replacement.title, "content": replacement.content},
        expected_versions=named + _if_match_version(if_match),
        now=now,
    )
    _etag(response, updated.version)
    return await document_service.document_read(session=session, document=updated)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404, 422))
async def delete_document(document: EditableDocument, session: SessionDep, storage: StorageDep) -> Response:
    """Delete the document and its file."""
    await document_service.delete_document(session=session, storage=storage, document=document)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
