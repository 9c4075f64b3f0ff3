"""Members, share links, activity and your own audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    CurrentUser,
    JsonBody,
    MemberAccess,
    NowDep,
    OwnedDocument,
    PasswordsDep,
    ReadableDocument,
    SessionDep,
    SettingsDep,
)
from app.core.errors import NotFound
from app.crud import audit as audit_crud
from app.crud import sharing as sharing_crud
from app.schemas.common import Page, error_responses
from app.schemas.sharing import (
    AuditEventRead,
    LinkCreate,
    LinkCreated,
    LinkRead,
    MemberRead,
    OwnAuditEventRead,
    ShareCreate,
    ShareUpdate,
)
from app.schemas.types import MAX_INT32
from app.services import sharing as sharing_service

router = APIRouter(tags=["sharing"])
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT32)]


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{what} not found") from None


@router.get("/documents/{document_id}/shares", responses=error_responses(401, 404, 422))
async def list_shares(access: ReadableDocument, session: SessionDep) -> list[MemberRead]:
    """Who has access: the owner, then members with their roles."""
    return await sharing_service.list_members(session=session, access=access)


@router.post(
    "/documents/{document_id}/shares",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    dependencies=[JsonBody],
)
async def share(share_in: ShareCreate, access: OwnedDocument, session: SessionDep, now: NowDep) -> MemberRead:
    """Share with an existing account by email, as `viewer` or `editor` (owner only)."""
    return await sharing_service.grant(
        session=session, access=access, email=share_in.email, role=share_in.role, now=now
    )


@router.patch(
    "/documents/{document_id}/shares/{user_id}",
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    dependencies=[JsonBody],
)
async def change_role(user_id: str, change: ShareUpdate, access: OwnedDocument, session: SessionDep) -> MemberRead:
    return await sharing_service.change_role(
        session=session, access=access, user_id=_uuid(user_id, "Member"), role=change.role
    )


@router.delete(
    "/documents/{document_id}/shares/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def unshare(user_id: str, access: MemberAccess, session: SessionDep) -> Response:
    """The owner removes a member; a member removing themself leaves the document."""
    await sharing_service.revoke(session=session, access=access, user_id=_uuid(user_id, "Member"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/documents/{document_id}/links",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    dependencies=[JsonBody],
)
async def create_link(
    access: OwnedDocument,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    now: NowDep,
    link_in: LinkCreate | None = None,
) -> LinkCreated:
    """A read-only public link; the token is shown only in this response (409 past
    MAX_LINKS_PER_DOCUMENT live links)."""
    new = await sharing_service.create_link(
        session=session,
        passwords=passwords,
        access=access,
        link_in=link_in or LinkCreate(),
        now=now,
        limit=settings.max_links_per_document,
    )
    return LinkCreated(
        id=new.link.id,
        token=new.token,
        url=f"{settings.public_app_url}/shared/{new.token}",
        expires_at=new.link.expires_at,
        has_password=new.link.password_hash is not None,
    )


@router.get("/documents/{document_id}/links", responses=error_responses(401, 403, 404, 409, 422))
async def list_links(access: OwnedDocument, session: SessionDep) -> list[LinkRead]:
    links = await sharing_crud.list_links(session=session, document_id=access.document.id)
    return [
        LinkRead(
            id=link.id,
            expires_at=link.expires_at,
            revoked_at=link.revoked_at,
            created_at=link.created_at,
            has_password=link.password_hash is not None,
            access_count=link.access_count,
            last_accessed_at=link.last_accessed_at,
        )
        for link in links
    ]


@router.delete(
    "/documents/{document_id}/links/{link_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def revoke_link(link_id: str, access: OwnedDocument, session: SessionDep, now: NowDep) -> Response:
    await sharing_service.revoke_link(session=session, access=access, link_id=_uuid(link_id, "Link"), now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/documents/{document_id}/activity", responses=error_responses(401, 404, 422))
async def activity(
    access: ReadableDocument, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> Page[AuditEventRead]:
    """What happened to this document, newest first (members see it too)."""
    events, total = await audit_crud.list_for_target(
        session=session, target_type="document", target_id=str(access.document.id), limit=limit, offset=offset
    )
    return Page[AuditEventRead](
        items=[AuditEventRead.model_validate(e) for e in events], total=total, limit=limit, offset=offset
    )


@router.get("/audit/me", responses=error_responses(401, 422))
async def my_audit(
    user: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> Page[OwnAuditEventRead]:
    """Your own events (sign-ins, changes, shares…), newest first."""
    events, total = await audit_crud.list_for_actor(session=session, actor_id=user.id, limit=limit, offset=offset)
    return Page[OwnAuditEventRead](
        items=[OwnAuditEventRead.model_validate(e) for e in events], total=total, limit=limit, offset=offset
    )
