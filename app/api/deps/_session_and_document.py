"""A document's read and its creation with the session check in the same statement.

The only callers in app/api of `check_session_and_read`, `open_document`
(app.services.document_reads) and `create_document_for_session` (app.services.documents): a
change to those changes this module alone. `get_opened_document` is FastAPI's dependency for
`GET /documents/{id}` and what the direct route calls; `create_as_caller` is called by the direct
`POST /documents` only (FastAPI's route checks the session on its own).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request

from app.api.deps._session_cookie import actor_of, answer_session_cookie, get_current_user, session_token_of
from app.core.errors import NotFound, Unauthorized
from app.schemas.document import DocumentCreate
from app.services.document_reads import Opened, check_session_and_read, open_document
from app.services.documents import create_document_for_session
from app.services.sessions import session_ref


async def get_opened_document(request: Request, document_id: str) -> Opened:
    """GET /documents/{id}: the session check and the document in one query (Caller's rules:
    401, then 404 for a document the user may not see or a malformed id)."""
    try:
        target = uuid.UUID(document_id)
    except ValueError:
        await get_current_user(request)
        raise NotFound("Document not found") from None
    state = request.app.state
    token, now = session_token_of(request), state.clock()
    resolved, view = await check_session_and_read(
        db=state.db, session=session_ref(token), document_id=target, now=now, policy=state.session_policy
    )
    user = answer_session_cookie(request, token, now, resolved)
    if user is None:
        raise Unauthorized("Sign in to continue")
    return open_document(db=state.db, actor=actor_of(user), document_id=target, now=now, view=view)


# DocumentRead's values, to be written as they are (app.api.responses), and the view to note after.
OpenedDocument = Annotated[Opened, Depends(get_opened_document)]


async def create_as_caller(request: Request, document_in: DocumentCreate) -> dict[str, Any]:
    """POST /documents (the direct route's): the session check and the creation in one statement
    (Caller's rule: 401, and nothing written, without a live session); DocumentRead's values."""
    state = request.app.state
    token, now = session_token_of(request), state.clock()
    resolved, values = await create_document_for_session(
        db=state.db,
        session=session_ref(token),
        now=now,
        policy=state.session_policy,
        title=document_in.title,
        content=document_in.content,
    )
    if answer_session_cookie(request, token, now, resolved) is None or values is None:
        raise Unauthorized("Sign in to continue")
    return values
