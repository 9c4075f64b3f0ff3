from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from app.api.bodies import is_json_media_type, media_type_of
from app.api.deps import (
    CallerDep,
    CurrentUser,
    EditableDocument,
    EditableView,
    IdempotencyKey,
    JsonBody,
    NowDep,
    OpenedDocument,
    QueueDep,
    ReadableDocument,
    SessionDep,
    StorageDep,
    TrashableDocument,
    create_as_caller,
    get_caller,
    get_opened_document,
)
from app.api.direct_routes import UUID_SEGMENT, DirectRoute
from app.api.responses import object_response, page_response
from app.core.errors import Invalid, NotFound
from app.crud import document as document_crud
from app.crud import document_views
from app.crud import sharing as sharing_crud
from app.schemas.common import Page, error_responses
from app.schemas.document import (
    DocumentCreate,
    DocumentListQuery,
    DocumentRead,
    DocumentReplace,
    DocumentSummary,
    DocumentUpdate,
    VersionRead,
    VersionRestore,
    VersionSummary,
)
from app.schemas.types import MAX_INT32
from app.services import document_reads
from app.services import documents as document_service
from app.services.document_access import Access
from app.services.duplicate import duplicate_document
from app.services.idempotency import idempotency

router = APIRouter(prefix="/documents", tags=["documents"])
_SUMMARY_FIELDS = tuple(DocumentSummary.model_fields)
_ITEM_ERRORS = error_responses(401, 404, 422)
# A state-changing request: also 403 from an untrusted origin (app.api.middleware).
_CHANGE_ERRORS = error_responses(401, 403, 404, 422)
_VERSION_TAG = re.compile(r"[0-9]{1,10}")
VersionNumber = Annotated[int, Path(ge=1, le=MAX_INT32)]


def _if_match_version(if_match: str | None) -> list[int]:
    """`If-Match: "3"` (or `W/"3"`, or `*`) as a list of the versions it names."""
    if if_match is None or if_match.strip() == "*":
        return []
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not _VERSION_TAG.fullmatch(tag):
        raise Invalid('If-Match must name a version, e.g. "3"', code="invalid_if_match")
    return [int(tag)]


async def _read(session: SessionDep, access: Access, response: Response) -> DocumentRead:
    response.headers["etag"] = f'"{access.document.version}"'
    return await document_reads.document_read(session=session, access=access)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    responses=error_responses(400, 401, 403, 413, 415, 422),
    dependencies=[JsonBody],
)
async def create_document(
    document_in: DocumentCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a document. With an `Idempotency-Key`, a retry gets the first answer (docs/api.md)."""
    asked = idempotency(idempotency_key, route="POST /documents", request=document_in.model_dump())
    if asked is None:
        values = await document_service.create_document(
            db=caller.db, actor=caller.actor, title=document_in.title, content=document_in.content, now=caller.now
        )
        return _created(values)
    status_code, values = await document_service.create_document_once(
        db=caller.db,
        actor=caller.actor,
        title=document_in.title,
        content=document_in.content,
        now=caller.now,
        asked=asked,
    )
    return _created(values, status_code)


def _created(values: dict[str, Any], status_code: int = status.HTTP_201_CREATED) -> Response:
    return object_response(values, status_code=status_code, headers={"etag": f'"{values["version"]}"'})


@router.get("", response_model=Page[DocumentSummary], responses=error_responses(401, 422))
async def list_documents(caller: CallerDep, query: Annotated[DocumentListQuery, Query()]) -> Response:
    """Documents you can see (summaries, without content), each with your role.

    `scope` owned/shared, `sort` by updated/created/title (`-` for descending), `starred=true`
    for your starred ones, `trashed=true` for your trash.
    """
    rows, total = await document_views.list_documents(db=caller.db, user_id=caller.user.id, **query.model_dump())
    return page_response(rows, _SUMMARY_FIELDS, total=total, limit=query.limit, offset=query.offset)


@router.get("/recent", responses=error_responses(401, 422))
async def recent_documents(
    user: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[DocumentSummary]:
    """Documents you recently opened or edited, newest first."""
    rows = await sharing_crud.list_recent(session=session, user_id=user.id, limit=limit)
    return [DocumentSummary.model_validate(row) for row in rows]


@router.get("/{document_id}", response_model=DocumentRead, responses=_ITEM_ERRORS)
async def get_document(document: OpenedDocument) -> Response:
    """The document with its content, file, OCR status and your role."""
    values, note = document.values, document.note_view
    background = BackgroundTask(note) if note else None
    return object_response(values, headers={"etag": f'"{values["version"]}"'}, background=background)


async def _direct_list(request: Request, _params: Mapping[str, str]) -> Response | None:
    try:
        query = DocumentListQuery.model_validate(dict(request.query_params))
    except ValidationError:
        return None  # FastAPI's 422 (after its 401)
    return await list_documents(await get_caller(request), query)


async def _direct_create(request: Request, _params: Mapping[str, str]) -> Response | None:
    # A body that is not JSON (its 415), or streamed with no length: FastAPI answers.
    if not is_json_media_type(media_type_of(request)) or "content-length" not in request.headers:
        return None
    try:
        document_in = DocumentCreate.model_validate_json(await request.body())
    except (ValidationError, ClientDisconnect):
        return None  # FastAPI's 422 (after its 401), or its answer to a client gone mid-body
    key = request.headers.get("idempotency-key")
    if key is not None:  # FastAPI's route, called as FastAPI would (the key needs the user first)
        return await create_document(document_in, await get_caller(request), key)
    # The session check and the creation in one statement (FastAPI's route makes them two).
    return _created(await create_as_caller(request, document_in))


async def _direct_get(request: Request, params: Mapping[str, str]) -> Response:
    return await get_document(await get_opened_document(request, params["document_id"]))


# What each direct answer gives its endpoint (app.api.direct_routes checks it against FastAPI's).
DIRECT = (
    DirectRoute(
        list_documents,
        _direct_list,
        reproduces=(("depends", "get_caller(Request)"), ("query", "query: DocumentListQuery")),
    ),
    DirectRoute(
        create_document,
        _direct_create,
        reproduces=(
            ("body", "document_in: DocumentCreate"),
            ("depends", "get_caller(Request)"),
            ("depends", "require_json_body(Request)"),
            ("header", "Idempotency-Key: str | None"),
        ),
    ),
    DirectRoute(
        get_document,
        _direct_get,
        reproduces=(("depends", "get_opened_document(Request, path document_id: str)"),),
        params={"document_id": UUID_SEGMENT},
    ),
)


@router.patch(
    "/{document_id}", responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422), dependencies=[JsonBody]
)
async def patch_document(
    changes: DocumentUpdate,
    target: EditableView,
    caller: CallerDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentRead:
    """Change title and/or content. Name the version you edited (body or If-Match) to get 409 on a conflict."""
    named = [changes.version] if changes.version is not None else []
    read = await document_service.save_edit(
        db=caller.db,
        target=target,
        changes=changes.model_dump(exclude_unset=True, exclude={"version"}, exclude_none=True),
        expected_versions=named + _if_match_version(if_match),
        now=caller.now,
    )
    response.headers["etag"] = f'"{read.version}"'
    return read


@router.put(
    "/{document_id}", responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422), dependencies=[JsonBody]
)
async def replace_document(
    replacement: DocumentReplace,
    target: EditableView,
    caller: CallerDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentRead:
    """Replace title and content (content defaults to empty)."""
    named = [replacement.version] if replacement.version is not None else []
    read = await document_service.save_edit(
        db=caller.db,
        target=target,
        changes={"title": replacement.title, "content": replacement.content},
        expected_versions=named + _if_match_version(if_match),
        now=caller.now,
    )
    response.headers["etag"] = f'"{read.version}"'
    return read


@router.delete(
    "/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404, 409, 422)
)
async def delete_document(
    access: TrashableDocument, session: SessionDep, storage: StorageDep, now: NowDep, permanent: bool = False
) -> Response:
    """Move to the trash (owner), or with `permanent=true` delete it, its history and its file for good."""
    if permanent:
        await document_service.purge_document(
            session=session, storage=storage, document=access.document, actor=access.actor, reason="owner"
        )
    else:
        await document_service.trash_document(session=session, access=access, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{document_id}/restore", responses=error_responses(401, 403, 404, 409, 422))
async def restore_document(access: TrashableDocument, session: SessionDep, response: Response) -> DocumentRead:
    """Take the document out of the trash."""
    await document_service.restore_from_trash(session=session, access=access)
    await session.refresh(access.document)
    return await _read(session, access, response)


@router.post(
    "/{document_id}/duplicate",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def duplicate(
    access: ReadableDocument, session: SessionDep, storage: StorageDep, queue: QueueDep, now: NowDep, response: Response
) -> DocumentRead:
    """A copy you own ("… (copy)"), with its file and OCR text."""
    copy = await duplicate_document(session=session, storage=storage, enqueue=queue.enqueue_ocr, access=access, now=now)
    return await _read(session, Access(document=copy, role="owner", actor=access.actor), response)


@router.put("/{document_id}/star", status_code=status.HTTP_204_NO_CONTENT, responses=_CHANGE_ERRORS)
async def star(access: ReadableDocument, session: SessionDep, now: NowDep) -> Response:
    await sharing_crud.set_star(session=session, user_id=access.actor.id, document_id=access.document.id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{document_id}/star", status_code=status.HTTP_204_NO_CONTENT, responses=_CHANGE_ERRORS)
async def unstar(access: ReadableDocument, session: SessionDep) -> Response:
    await sharing_crud.clear_star(session=session, user_id=access.actor.id, document_id=access.document.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{document_id}/versions", responses=_ITEM_ERRORS)
async def list_versions(access: ReadableDocument, session: SessionDep) -> list[VersionSummary]:
    """Every version, newest first (without content)."""
    versions = await document_crud.list_versions(session=session, document_id=access.document.id)
    return [VersionSummary.model_validate(v) for v in versions]


@router.get("/{document_id}/versions/{version}", responses=_ITEM_ERRORS)
async def get_version(access: ReadableDocument, version: VersionNumber, session: SessionDep) -> VersionRead:
    found = await document_crud.get_version(session=session, document_id=access.document.id, version=version)
    if found is None:
        raise NotFound("Version not found", code="version_not_found")
    return VersionRead.model_validate(found)


@router.post(
    "/{document_id}/versions/{version}/restore",
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    dependencies=[JsonBody],
)
async def restore_version(
    access: EditableDocument,
    version: VersionNumber,
    session: SessionDep,
    now: NowDep,
    response: Response,
    body: VersionRestore | None = None,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentRead:
    """Make an old version current again, as a new version (the history stays)."""
    named = [body.version] if body and body.version is not None else []
    updated = await document_service.restore_version(
        session=session, access=access, version=version, expected_versions=named + _if_match_version(if_match), now=now
    )
    return await _read(session, Access(document=updated, role=access.role, actor=access.actor), response)
