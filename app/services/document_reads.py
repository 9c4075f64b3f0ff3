"""Reading a document: the read view (app.crud.document_views) checked by the access rule, the
"recent" row and `document.view` event it leaves, and DocumentRead's values."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.crud import document_views
from app.crud import sharing as sharing_crud
from app.db.prepared import Row
from app.db.session import Database, after_finish
from app.schemas.document import DocumentRead
from app.schemas.ocr import FileRead, OcrSummary
from app.services import audit
from app.services.audit import Actor, document_target
from app.services.best_effort import BestEffort
from app.services.document_access import Access, ensure_visible
from app.services.sessions import Resolved, SessionPolicy, SessionRef, settle_session

VIEW_EVERY = timedelta(minutes=10)  # document.view and "recent" are written at most this often
_READ_FIELDS = tuple(name for name in DocumentRead.model_fields if name not in ("file", "ocr"))
_FILE_FIELDS, _OCR_FIELDS = tuple(FileRead.model_fields), tuple(OcrSummary.model_fields)
_VIEWS = BestEffort("document.view")


def read_values(row: Row, changed: dict[str, Any] | None = None) -> dict[str, Any]:
    """DocumentRead's fields, in its order, from a read view row, with `changed` columns as they
    now are."""
    values = {key: row[key] for key in _READ_FIELDS} | (changed or {})
    values["file"] = _part(row, "file_", _FILE_FIELDS)
    values["ocr"] = _part(row, "ocr_", _OCR_FIELDS)
    return values


def new_document_values(row: Row) -> dict[str, Any]:
    """DocumentRead's values, in its order, for a document its owner just created (a create's
    row: its columns, app.crud.document), which has no file, OCR job or star yet."""
    fixed = {"role": "owner", "starred": False, "file": None, "ocr": None}
    return {key: fixed[key] if key in fixed else row[key] for key in DocumentRead.model_fields}


def _part(row: Row, prefix: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """A nested object from a row's `prefix`+field columns; None when the outer join found nothing."""
    values = {name: row[prefix + name] for name in fields}
    return None if all(value is None for value in values.values()) else values


def visible(row: Row | None) -> tuple[Row, bool]:
    """A read view the caller may see, and whether it is in the trash; NotFound if they have no role
    (or it is trashed and not theirs)."""
    if row is None or row["role"] is None:
        raise NotFound("Document not found")
    trashed = row["trashed_at"] is not None
    ensure_visible(row["role"], trashed=trashed)
    return row, trashed


async def visible_view(*, db: Database, actor: Actor, document_id: uuid.UUID) -> tuple[Row, bool]:
    """`visible` of the caller's read view, read on its own connection."""
    return visible(await document_views.get_read_view(db=db, user_id=actor.id, document_id=document_id))


async def check_session_and_read(
    *, db: Database, session: SessionRef | None, document_id: uuid.UUID, now: datetime, policy: SessionPolicy
) -> tuple[Resolved, Row | None]:
    """The busiest read: the session check and the read view in one query.
    The session is settled as `resolve_session` settles it; the view (for `open_document`) only
    comes with a signed-in user."""
    found = (
        await document_views.get_read_view_for_session(db=db, token_hash=session.token_hash, document_id=document_id)
        if session
        else None
    )
    resolved = await settle_session(db=db, user=found[0] if found else None, now=now, policy=policy)
    return resolved, (found[1] if found and resolved.user else None)


@dataclass(frozen=True, slots=True)
class Opened:
    """What a reader opening a document gets: DocumentRead's values (`read_values`, written as
    they are), and the noting of the view when it is due, to run after the answer is sent."""

    values: dict[str, Any]
    note_view: Callable[[], Awaitable[None]] | None


def open_document(*, db: Database, actor: Actor, document_id: uuid.UUID, now: datetime, view: Row | None) -> Opened:
    """A reader opens a document, given its read view (`check_session_and_read`): NotFound if they
    have no role (or it is in its owner's trash and they are not the owner). The view is noted
    when due, after the answer and best effort (app.services.best_effort): a locked or full
    database does not fail the read."""
    row, _trashed = visible(view)
    due = row["seen_at"] is None or now - row["seen_at"] >= VIEW_EVERY
    note = _VIEWS(lambda: _record_view(db=db, actor=actor, document_id=document_id, now=now)) if due else None
    return Opened(read_values(row), note)


async def _record_view(*, db: Database, actor: Actor, document_id: uuid.UUID, now: datetime) -> None:
    """Recent list + `document.view`, at most once per user and document per VIEW_EVERY."""
    async with db.unit_of_work() as own:
        if await sharing_crud.touch_recent(
            session=own, user_id=actor.id, document_id=document_id, now=now, every=VIEW_EVERY
        ):
            await audit.record(own, "document.view", actor=actor, target=document_target(document_id))


async def document_read(*, session: AsyncSession, access: Access) -> DocumentRead:
    """The full view of a document as the caller's unit of work sees it (the read view)."""
    row = await document_views.get_read_view_in(
        session=session, user_id=access.actor.id, document_id=access.document.id
    )
    if row is None:
        raise NotFound("Document not found")
    return DocumentRead.model_validate(read_values(row))


async def note_download(*, session: AsyncSession, db: Database, access: Access) -> None:
    """`document.download`, written after the request's read-only transaction."""

    async def record_download() -> None:
        async with db.unit_of_work() as own:
            await audit.record(own, "document.download", actor=access.actor, target=document_target(access.document.id))

    after_finish(session, record_download)
