from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, SessionDep
from app.schemas.common import error_responses
from app.schemas.search import SearchResults
from app.schemas.types import MAX_INT32
from app.search import MAX_QUERY_CHARS
from app.services.search import search_documents

router = APIRouter(tags=["search"])


@router.get("/search", responses=error_responses(401, 422))
async def search(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
) -> SearchResults:
    """Search titles, content and OCR text of the documents you can see.

    Words must all match; `"exact phrase"`; `काठ*` for a prefix; `-word` to exclude. Nepali
    words match with their postpositions (काठमाडौं finds काठमाडौंमा), never a word that only
    shares consonants (पानी does not find पनि). Title matches rank first, then recency.
    """
    return await search_documents(session=session, user_id=user.id, query=q, limit=limit, offset=offset)
