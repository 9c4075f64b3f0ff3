"""Who may do what to a document: the caller's role on it (app.crud.visibility), turned into
NotFound, Forbidden and Conflict the same way on every path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden, NotFound
from app.crud import document as document_crud
from app.crud.visibility import Permission, can
from app.models import Document
from app.services.audit import Actor


@dataclass(frozen=True, slots=True)
class Access:
    """A document and the caller's role on it (see app.crud.visibility)."""

    document: Document
    role: str
    actor: Actor


def ensure_visible(role: str | None, *, trashed: bool) -> str:
    """NotFound for a caller with no role, or for a trashed document to anyone but its owner (never
    revealing that it exists); else the role."""
    if role is None or (trashed and role != "owner"):
        raise NotFound("Document not found")
    return role


def ensure_allowed(role: str, *, trashed: bool, permission: Permission, in_trash: bool = False) -> None:
    """Forbidden when the role does not allow `permission`; Conflict when the document is in the trash and
    the action is not one for a trashed document (its owner may read, restore or purge it)."""
    if not can(role, permission):
        raise Forbidden(f"Your role ({role}) does not allow this", code="forbidden")
    if trashed and not in_trash:
        raise in_trash_conflict()


def ensure_not_trashed(document: Document) -> None:
    if document.trashed_at is not None:
        raise in_trash_conflict()


def in_trash_conflict() -> Conflict:
    return Conflict("The document is in the trash; restore it first", code="document_trashed")


def version_conflict(current_version: int) -> Conflict:
    return Conflict(
        "The document was changed by someone else; reload it and try again",
        code="version_conflict",
        current_version=current_version,
    )


async def load_access(*, session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> Access:
    """The document and the caller's role, in the unit of work; NotFound if they may not see it."""
    found = await document_crud.get_document_with_role(session=session, user_id=actor.id, document_id=document_id)
    if found is None:
        raise NotFound("Document not found")
    document, role = found
    ensure_visible(role, trashed=document.trashed_at is not None)
    return Access(document=document, role=role, actor=actor)
