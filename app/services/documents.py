"""Document writes: create, edit with optimistic concurrency, restore a version, trash, purge.
A create or an edit is one write (app.services.document_writes), whatever path makes it; every
change writes its version and audit rows in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.core.errors import Conflict, NotFound
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.crud.session import session_user_of
from app.db.prepared import Row
from app.db.session import Database, after_commit
from app.models import Document
from app.schemas.document import DocumentRead
from app.services import audit, document_writes
from app.services import idempotency as idempotency_service
from app.services.audit import Actor, document_target
from app.services.document_access import (
    Access,
    ensure_allowed,
    ensure_not_trashed,
    in_trash_conflict,
    load_access,
    version_conflict,
)
from app.services.document_reads import document_read, new_document_values, read_values, visible_view
from app.services.idempotency import Idempotency
from app.services.sessions import Resolved, SessionPolicy, SessionRef, check_session, settle_session
from app.storage import Storage

_EDIT_ATTEMPTS = 3  # optimistic writes before taking the row lock


async def create_document(*, db: Database, actor: Actor, title: str, content: str, now: datetime) -> dict[str, Any]:
    """A new document, its first version, its search index entry and its `document.create` event,
    all or nothing (one write). DocumentRead's values: a new document has no file, OCR job or
    star yet."""
    document_id = uuid.uuid4()
    dialect = db.engine.dialect.name
    # Before the transaction: on SQLite its write lock would be held while a large text is tokenized.
    index = await search.index_values(dialect, title=title, content=content, pages=[])
    event = audit.event_values("document.create", actor=actor, target=document_target(document_id))
    params = document_writes.create_params(
        document_id=document_id, owner_id=actor.id, title=title, content=content, now=now, index=index, event=event
    )
    row = await document_writes.create(dialect).run_alone(db, params)
    if row is None:
        raise RuntimeError("an insert returned no row")
    return new_document_values(row)


async def create_document_once(
    *, db: Database, actor: Actor, title: str, content: str, now: datetime, asked: Idempotency
) -> tuple[int, dict[str, Any]]:
    """`create_document` sent with an Idempotency-Key (app.services.idempotency): the status and
    DocumentRead's values of the first answer to the key, made now (201) or replayed; the key's
    row is written in the same statement (PostgreSQL) or transaction as the document."""
    first = await idempotency_service.replay(db=db, user_id=actor.id, asked=asked, now=now)
    if first is None:
        document_id, dialect = uuid.uuid4(), db.engine.dialect.name
        index = await search.index_values(dialect, title=title, content=content, pages=[])
        event = audit.event_values("document.create", actor=actor, target=document_target(document_id))
        params = document_writes.create_params(
            document_id=document_id, owner_id=actor.id, title=title, content=content, now=now, index=index, event=event
        )
        params |= document_writes.key_params(key=asked.key, request_hash=asked.request_hash, status_code=201)
        try:
            async with db.unit_of_work() as session:
                row = await document_writes.create(dialect, keyed=True).run(session, params)
        except IntegrityError:  # a duplicate of this request wrote the key first: answer as it did
            first = await idempotency_service.replay(db=db, user_id=actor.id, asked=asked, now=now)
            if first is None:
                raise
        else:
            if row is None:
                raise RuntimeError("an insert returned no row")
            return 201, new_document_values(row)
    view, _trashed = await visible_view(db=db, actor=actor, document_id=first.document_id)
    return first.status_code, read_values(view)


async def create_document_for_session(
    *, db: Database, session: SessionRef | None, now: datetime, policy: SessionPolicy, title: str, content: str
) -> tuple[Resolved, dict[str, Any] | None]:
    """The busiest write: `create_document` by the user of `session`, settled as
    `check_session` settles it; the document's values come with a signed-in user. On PostgreSQL
    the session check and the write are one statement, which writes only for a live session
    (app.crud.session.live_at, the twin of the rule `settle_session` applies)."""
    if session is None or db.engine.dialect.name != "postgresql":
        resolved = await check_session(db=db, session=session, now=now, policy=policy)
        if resolved.user is None:
            return resolved, None
        actor = Actor(id=resolved.user.id, email=resolved.user.email)
        return resolved, await create_document(db=db, actor=actor, title=title, content=content, now=now)
    document_id = uuid.uuid4()
    index = await search.index_values("postgresql", title=title, content=content, pages=[])
    # The actor is the statement's: the session's user.
    event = audit.event_values("document.create", actor=None, target=document_target(document_id))
    params = document_writes.create_params(
        document_id=document_id, owner_id=None, title=title, content=content, now=now, index=index, event=event
    )
    row = await document_writes.create_for_session().run_alone(db, params | {"token_hash": session.token_hash})
    user = session_user_of(row, document_writes.CALLER) if row else None
    resolved = await settle_session(db=db, user=user, now=now, policy=policy)
    if resolved.user is None:
        return resolved, None
    return resolved, new_document_values(row) if row and row["created_id"] else None


@dataclass(frozen=True, slots=True)
class EditTarget:
    """A document the caller may edit, as they saw it (the read view, app.crud.document_views)."""

    document_id: uuid.UUID
    actor: Actor
    view: Row


async def editable_view(*, db: Database, actor: Actor, document_id: uuid.UUID) -> EditTarget:
    """NotFound if the caller may not see the document, Forbidden if their role may not edit it,
    Conflict if it
    is in the trash; else what they see of it, read on its own connection."""
    row, trashed = await visible_view(db=db, actor=actor, document_id=document_id)
    ensure_allowed(row["role"], trashed=trashed, permission="edit")
    return EditTarget(document_id=document_id, actor=actor, view=row)


async def save_edit(
    *, db: Database, target: EditTarget, changes: dict[str, Any], expected_versions: list[int], now: datetime
) -> DocumentRead:
    """An editor's change of title and/or content (PATCH, PUT), answered with the full view.

    `target` is what the caller saw (`editable_view`, already checked). The edit is written at
    the version seen (app.services.document_writes.edit). If another edit came first, a caller
    who named a version gets a version Conflict; one who did not has theirs applied on top: tried again, then,
    if edits keep coming first, in a unit of work that locks the row (no edit is lost). A request
    that changes nothing leaves the version alone.
    """
    actor, document_id = target.actor, target.document_id
    dialect = db.engine.dialect.name
    for attempt in range(_EDIT_ATTEMPTS):
        row = target.view if attempt == 0 else (await editable_view(db=db, actor=actor, document_id=document_id)).view
        if any(v != row["version"] for v in expected_versions):
            raise version_conflict(row["version"])
        changed = {key: value for key, value in changes.items() if row[key] != value}
        if not changed:
            return DocumentRead.model_validate(read_values(row))
        new = {"title": row["title"], "content": row["content"], **changed}
        pages = await ocr_crud.page_texts(db=db, document_id=document_id) if row["file_filename"] is not None else []
        params = await _edit_params(
            dialect, actor, document_id, read_version=row["version"], pages=pages, new=new, fields=changed, now=now
        )
        written = await document_writes.edit(dialect).run_alone(db, params)
        if written is not None:  # the document's columns as the edit left them
            now_stored = {key: written[key] for key in written.keys()}  # noqa: SIM118  # a Record iterates values
            return DocumentRead.model_validate(read_values(row, now_stored))
    async with db.unit_of_work() as session:
        access = await load_access(session=session, actor=actor, document_id=document_id)
        ensure_allowed(access.role, trashed=access.document.trashed_at is not None, permission="edit")
        updated = await _edit_locked(session, access, changes, expected_versions, now)
        return await document_read(session=session, access=Access(updated, access.role, actor))


async def restore_version(
    *, session: AsyncSession, access: Access, version: int, expected_versions: list[int], now: datetime
) -> Document:
    """Make an old version's title and content the document's next version (history stays)."""
    old = await document_crud.get_version(session=session, document_id=access.document.id, version=version)
    if old is None:
        raise NotFound("Version not found", code="version_not_found")
    changes = {"title": old.title, "content": old.content}
    details = {"restored_from": version}
    return await _edit_locked(session, access, changes, expected_versions, now, "document.restore_version", details)


async def _edit_locked(
    session: AsyncSession,
    access: Access,
    changes: dict[str, Any],
    expected_versions: list[int],
    now: datetime,
    action: str = "document.update",
    details: dict[str, Any] | None = None,
) -> Document:
    """The edit in the caller's unit of work, the document's row locked first (so it cannot
    miss); the document as it then is."""
    document = await document_crud.lock_document(session=session, document_id=access.document.id)
    if document is None:
        raise NotFound("Document not found")
    ensure_not_trashed(document)
    if any(v != document.version for v in expected_versions):
        raise version_conflict(document.version)
    changed = {key: value for key, value in changes.items() if getattr(document, key) != value}
    if not changed:
        return document
    new = {"title": document.title, "content": document.content, **changed}
    pages = [(page.number, page.text) for page in await ocr_crud.list_pages(session=session, document_id=document.id)]
    dialect = session.get_bind().dialect.name
    params = await _edit_params(
        dialect,
        access.actor,
        document.id,
        read_version=document.version,
        pages=pages,
        new=new,
        fields=changed,
        now=now,
        action=action,
        details=details,
    )
    if await document_writes.edit(dialect).run(session, params) is None:
        raise RuntimeError("a locked document's edit was not written")
    await session.refresh(document)
    return document


async def _edit_params(
    dialect: str,
    actor: Actor,
    document_id: uuid.UUID,
    *,
    read_version: int,
    pages: list[tuple[int, str]],
    new: dict[str, Any],
    fields: Iterable[str],
    now: datetime,
    action: str = "document.update",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The edit's parameters: its index row made of `new` title and content and `pages`, and its
    event naming the fields changed and the new version."""
    title, content = new["title"], new["content"]
    index = await search.index_values(dialect, title=title, content=content, pages=pages)
    event_details = {"fields": sorted(fields), "version": read_version + 1, **(details or {})}
    event = audit.event_values(action, actor=actor, target=document_target(document_id), details=event_details)
    return document_writes.edit_params(
        document_id=document_id,
        read_version=read_version,
        page_count=len(pages),
        title=title,
        content=content,
        author_id=actor.id,
        now=now,
        index=index,
        event=event,
    )


async def trash_document(*, session: AsyncSession, access: Access, now: datetime) -> None:
    # The update is the check: of two requests racing, only one moves it.
    if not await document_crud.set_trashed(session=session, document_id=access.document.id, trashed_at=now):
        raise in_trash_conflict()
    await audit.record(session, "document.trash", actor=access.actor, target=document_target(access.document.id))


async def restore_from_trash(*, session: AsyncSession, access: Access) -> None:
    if not await document_crud.set_trashed(session=session, document_id=access.document.id, trashed_at=None):
        raise Conflict("The document is not in the trash", code="not_trashed")
    await audit.record(session, "document.restore", actor=access.actor, target=document_target(access.document.id))


async def purge_document(
    *, session: AsyncSession, storage: Storage, document: Document, actor: Actor | None, reason: str
) -> None:
    """Delete the row (versions, shares, links, stars, file and OCR rows cascade) and, once that
    is committed, its stored files. Its audit rows stay."""
    keys = await ocr_crud.stored_keys(session=session, document_id=document.id)
    if not await document_crud.delete_document(session=session, document_id=document.id):
        raise NotFound("Document not found")  # purged meanwhile by another request
    await audit.record(
        session,
        "document.purge",
        actor=actor,
        target=document_target(document.id),
        details={"title": document.title, "reason": reason},
    )
    for key in keys:
        after_commit(session, partial(storage.delete, key))
