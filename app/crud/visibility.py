"""The one visibility rule. Every document query (list, get, search, file, OCR, activity) asks
these functions who may see or change what; no endpoint writes its own check.

Roles: the owner; members with `editor` or `viewer` (document_shares). A trashed document is
visible to nobody but its owner, and only where the owner asks for the trash.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, case, exists, or_, select, union_all

from app.models import Document, DocumentShare

Permission = Literal["read", "edit", "manage"]
Role = Literal["owner", "editor", "viewer"]
# What each role may do. `manage` (trash, restore, purge, share, links) is the owner's alone.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset({"read", "edit", "manage"}),
    "editor": frozenset({"read", "edit"}),
    "viewer": frozenset({"read"}),
}
_ROLES: dict[str, Role] = {"owner": "owner", "editor": "editor", "viewer": "viewer"}
_MEMBER_ROLES: dict[str, tuple[str, ...]] = {"read": ("viewer", "editor"), "edit": ("editor",), "manage": ()}


def owned_where(user_id: uuid.UUID | SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """On Document: the user's own documents, not trashed. (The owner may do everything.)"""
    return and_(Document.owner_id == user_id, Document.trashed_at.is_(None))


def member_where(
    user_id: uuid.UUID | SQLColumnExpression[uuid.UUID], permission: Permission = "read"
) -> ColumnElement[bool] | None:
    """On DocumentShare joined to Document: shares that give `user_id` `permission` on a
    document not trashed; None when no member role allows it."""
    roles = _MEMBER_ROLES[permission]
    if not roles:
        return None
    return and_(DocumentShare.user_id == user_id, DocumentShare.role.in_(roles), Document.trashed_at.is_(None))


def visible_document_ids(user_id: uuid.UUID, permission: Permission = "read") -> Select[uuid.UUID]:
    """Ids of the documents (not trashed) on which `user_id` has `permission`.

    A UNION of two index scans (owned via the owner index, shared via document_shares' user
    index), so its cost follows the user's documents, not the table's.
    """
    owned = select(Document.id).where(owned_where(user_id))
    member = member_where(user_id, permission)
    if member is None:
        return owned
    shared = select(DocumentShare.document_id).join(Document, Document.id == DocumentShare.document_id).where(member)
    return select(union_all(owned, shared).subquery().c[0])


def visible_in_copy(
    user_id: uuid.UUID,
    *,
    document_id: ColumnElement[uuid.UUID],
    owner_id: ColumnElement[uuid.UUID],
    trashed_at: ColumnElement[Any],
) -> list[ColumnElement[bool]]:
    """The same rule (to read) over a table that copies each document's id, owner and trashed_at
    (the search index on PostgreSQL), as two disjoint conditions, owned then shared: a query per
    condition lets each use its own index (an OR of the two would read every match)."""
    live = trashed_at.is_(None)
    shared = select(DocumentShare.document_id).where(
        DocumentShare.user_id == user_id, DocumentShare.role.in_(_MEMBER_ROLES["read"])
    )
    return [and_(owner_id == user_id, live), and_(owner_id != user_id, live, document_id.in_(shared))]


def document_visible_to(user_id: uuid.UUID, permission: Permission = "read") -> ColumnElement[bool]:
    """The same rule as a WHERE clause on Document."""
    return Document.id.in_(visible_document_ids(user_id, permission))


def has_role(user_id: uuid.UUID | SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """On Document: `user_id` owns it or is a member, trashed or not (the caller decides)."""
    is_member = exists().where(DocumentShare.document_id == Document.id, DocumentShare.user_id == user_id)
    return or_(Document.owner_id == user_id, is_member)


def role_of(user_id: uuid.UUID | SQLColumnExpression[uuid.UUID]) -> ColumnElement[str | None]:
    """The caller's role on each Document row: 'owner', the share's role, or NULL."""
    share_role = (
        select(DocumentShare.role)
        .where(DocumentShare.document_id == Document.id, DocumentShare.user_id == user_id)
        .scalar_subquery()
    )
    return case((Document.owner_id == user_id, "owner"), else_=share_role)


def as_role(value: str | None) -> Role | None:
    """A role read from the database (`role_of`, document_shares.role) as a Role; None for none."""
    return _ROLES.get(value) if value is not None else None


def can(role: str | None, permission: Permission) -> bool:
    return role is not None and permission in ROLE_PERMISSIONS[role]
