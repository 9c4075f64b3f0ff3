"""Document edits with optimistic concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.crud import document as document_crud
from app.models import Document


def _conflict(current_version: int) -> Conflict:
    return Conflict(
        "The document was changed by someone else; reload it and try again",
        code="version_conflict",
        current_version=current_version,
    )


async def edit_document(
    *,
    session: AsyncSession,
    document: Document,
    changes: dict[str, Any],
    expected_versions: list[int],
    now: datetime,
) -> Document:
    """Apply `changes` if every version the client named is the current one.

    A request that changes nothing leaves the version alone; any real change bumps it by one.
    """
    if any(v != document.version for v in expected_versions):
        raise _conflict(document.version)
    changes = {key: value for key, value in changes.items() if getattr(document, key) != value}
    if not changes:
        return document
    expected = expected_versions[0] if expected_versions else None
    updated = await document_crud.update_document_if_version(
        session=session, document_id=document.id, expected_version=expected, values=changes, now=now
    )
    if updated is None:
        current = await document_crud.get_document_version(session=session, document_id=document.id)
        if current is None:
            raise NotFound("Document not found")
        raise _conflict(current)
    return updated
