"""Search as the API sees it: the caller's visible documents only, each hit with their role."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import search as search_engine
from app.core.errors import Invalid
from app.crud.visibility import as_role, role_of
from app.models import Document
from app.schemas.search import SearchDocument, SearchItem, SearchResults


async def search_documents(
    *, session: AsyncSession, user_id: uuid.UUID, query: str, limit: int, offset: int
) -> SearchResults:
    try:
        page = await search_engine.search(session, query=query, viewer=user_id, limit=limit, offset=offset)
    except search_engine.InvalidQuery as exc:
        raise Invalid(str(exc) or "Nothing to search for", code="invalid_query") from None
    ids = [hit.document_id for hit in page.hits]
    # A second statement: a hit whose share was revoked (or document deleted) since the search
    # read it has no role now, and is left out rather than shown with none.
    rows = (
        (await session.execute(select(Document.id, role_of(user_id)).where(Document.id.in_(ids)))).all() if ids else []
    )
    roles = {document_id: role for document_id, role in rows}
    items = [
        SearchItem(
            document=SearchDocument(id=hit.document_id, title=hit.title, updated_at=hit.updated_at, role=role),
            snippet=hit.snippet,
            page=hit.page,
            rank=hit.rank,
        )
        for hit in page.hits
        if (role := as_role(roles.get(hit.document_id))) is not None
    ]
    gone = len(page.hits) - len(items)
    return SearchResults(items=items, total=page.total - gone, limit=limit, offset=offset)
