"""Document loaders: fetch the document with the caller's role, and check what they may do."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from app.api.deps._session_cookie import CallerDep, CurrentUser, actor_of
from app.api.deps._state import SessionDep
from app.core.errors import NotFound
from app.crud.visibility import Permission
from app.services.document_access import Access, ensure_allowed, load_access
from app.services.documents import EditTarget, editable_view


def parse_document_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        # A malformed id is simply a document that does not exist.
        raise NotFound("Document not found") from None


async def get_document_access(document_id: str, user: CurrentUser, session: SessionDep) -> Access:
    """The document and the caller's role; 404 if they may not see it (never revealing it exists)."""
    return await load_access(session=session, actor=actor_of(user), document_id=parse_document_id(document_id))


async def get_edit_target(document_id: str, caller: CallerDep) -> EditTarget:
    """What an editor saw of the document (no unit of work): 401, then 404/403/409, before the
    body is looked at."""
    return await editable_view(db=caller.db, actor=caller.actor, document_id=parse_document_id(document_id))


EditableView = Annotated[EditTarget, Depends(get_edit_target)]


def _requiring(permission: Permission, *, in_trash: bool = False) -> Callable[[Access], Awaitable[Access]]:
    async def check(access: Annotated[Access, Depends(get_document_access)]) -> Access:
        # Visible but not allowed: 403 (a caller who cannot see it got 404 above).
        ensure_allowed(
            access.role, trashed=access.document.trashed_at is not None, permission=permission, in_trash=in_trash
        )
        return access

    return check


ReadableDocument = Annotated[Access, Depends(_requiring("read", in_trash=True))]
EditableDocument = Annotated[Access, Depends(_requiring("edit"))]
OwnedDocument = Annotated[Access, Depends(_requiring("manage"))]
TrashableDocument = Annotated[Access, Depends(_requiring("manage", in_trash=True))]
MemberAccess = Annotated[Access, Depends(get_document_access)]
