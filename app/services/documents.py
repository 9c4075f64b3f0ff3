"""Document use cases: create, read, edit with optimistic concurrency, versions, trash, purge,
duplicate. Each change writes its version and audit rows in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.security import token_digest
from app.crud import audit as audit_crud
from app.crud import document as document_crud
from app.crud import ocr as ocr_crud
from app.crud import sharing as sharing_crud
from app.crud.visibility import Permission, can
from app.db.hot import Row
from app.db.session import Database, after_commit, after_finish
from app.models import AuditEvent, Document
from app.schemas.document import DocumentRead
from app.schemas.ocr import FileRead, OcrSummary
from app.services import audit
from app.services.audit import Actor, document_target
from app.services.sessions import Resolved, SessionPolicy, resolve_session, settle_session
from app.storage import Storage

VIEW_EVERY = timedelta(minutes=10)  # document.view and "recent" are written at most this often


@dataclass(frozen=True, slots=True)
class Access:
    """A document and the caller's role on it (see app.crud.visibility)."""

    document: Document
    role: str
    actor: Actor


def ensure_visible(role: str | None, *, trashed: bool) -> str:
    """404 for a caller with no role, or for a trashed document to anyone but its owner (never
    revealing that it exists); else the role."""
    if role is None or (trashed and role != "owner"):
        raise NotFound("Document not found")
    return role


def ensure_allowed(role: str, *, trashed: bool, permission: Permission, in_trash: bool = False) -> None:
    """403 when the role does not allow `permission`; 409 when the document is in the trash and
    the action is not one for a trashed document (its owner may read, restore or purge it)."""
    if not can(role, permission):
        raise Forbidden(f"Your role ({role}) does not allow this", code="forbidden")
    if trashed and not in_trash:
        raise _in_trash()


def _conflict(current_version: int) -> Conflict:
    return Conflict(
        "The document was changed by someone else; reload it and try again",
        code="version_conflict",
        current_version=current_version,
    )


async def create_document(*, db: Database, actor: Actor, title: str, content: str, now: datetime) -> dict[str, Any]:
    """A new document, its first version, its search index entry and its `document.create` event,
    all or nothing: on PostgreSQL one statement on the driver, elsewhere one unit of work.
    DocumentRead's values: a new document has no file, OCR job or star yet."""
    document = document_crud.new_document(owner_id=actor.id, title=title, content=content, now=now)
    event = audit.event_values("document.create", actor=actor, target=document_target(document.id))
    pool = await db.driver_pool()
    # Before the transaction: on SQLite its write lock would be held while a large text is tokenized.
    index = await search.index_values(db.engine.dialect.name, title=title, content=content, pages=[])
    if pool is not None:
        await document_crud.insert_new(pool=pool, document=document, index=index, event=event)
    else:
        async with db.unit_of_work() as session:
            await document_crud.add_new(session=session, document=document)
            await search.store_index(session, document_id=document.id, values=index)
            await audit_crud.add_event(session=session, event=AuditEvent(**event))
    return _new_read_values(document.id, owner_id=actor.id, title=title, content=content, now=now)


async def create_document_as(
    *, db: Database, token: str | None, now: datetime, policy: SessionPolicy, title: str, content: str
) -> tuple[Resolved, dict[str, Any] | None]:
    """POST /documents, the busiest write: `create_document` by the user of the session `token`.
    On PostgreSQL the session check and the writes are one statement, which writes nothing unless
    the session is live; elsewhere the session check, then `create_document`. The session is
    settled as `resolve_session` settles it; the document's values come with a signed-in user."""
    token_hash = token_digest(token) if token else None
    pool = await db.driver_pool() if token_hash else None
    if pool is None or token_hash is None:
        resolved = await resolve_session(db=db, token=token, now=now, policy=policy)
        if resolved.user is None:
            return resolved, None
        actor = Actor(id=resolved.user.id, email=resolved.user.email)
        return resolved, await create_document(db=db, actor=actor, title=title, content=content, now=now)
    document_id = uuid.uuid4()
    found = await document_crud.insert_new_as(
        pool=pool,
        token_hash=token_hash,
        document_id=document_id,
        title=title,
        content=content,
        now=now,
        index=await search.postgres_index_values(title=title, content=content, pages=[]),
        # The actor is filled in by the statement, from the session.
        event=audit.event_values("document.create", actor=None, target=document_target(document_id)),
    )
    user, written = found if found else (None, False)
    resolved = await settle_session(db=db, user=user, now=now, policy=policy)
    if resolved.user is None:
        return resolved, None
    if not written:  # the statement and settle_session apply one rule: a live session writes
        raise RuntimeError("a live session's document was not written")
    return resolved, _new_read_values(document_id, owner_id=resolved.user.id, title=title, content=content, now=now)


def _new_read_values(
    document_id: uuid.UUID, *, owner_id: uuid.UUID, title: str, content: str, now: datetime
) -> dict[str, Any]:
    """DocumentRead's values, in its order, for a document just created (no file, OCR job or star yet)."""
    columns = {"id": document_id, "title": title, "owner_id": owner_id, "version": 1, "created_at": now}
    columns |= {"updated_at": now, "created_by": owner_id, "updated_by": owner_id, "trashed_at": None}
    columns |= {"role": "owner", "starred": False, "content": content, "file": None, "ocr": None}
    return {name: columns[name] for name in DocumentRead.model_fields}


def _part(row: Row, prefix: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """A nested object from a row's `prefix`+field columns; None when the outer join found nothing."""
    values = {name: row[prefix + name] for name in fields}
    return None if all(value is None for value in values.values()) else values


async def _visible_view(*, db: Database, actor: Actor, document_id: uuid.UUID) -> tuple[Row, bool]:
    """The read view (app.crud.document.get_read_view) of a document the caller may see, and
    whether it is in the trash; 404 if they have no role (or it is trashed and not theirs)."""
    return _visible(await document_crud.get_read_view(db=db, user_id=actor.id, document_id=document_id))


def _visible(row: Row | None) -> tuple[Row, bool]:
    if row is None or row["role"] is None:
        raise NotFound("Document not found")
    trashed = row["trashed_at"] is not None
    ensure_visible(row["role"], trashed=trashed)
    return row, trashed


def read_values(row: Row, changed: dict[str, Any] | None = None) -> dict[str, Any]:
    """DocumentRead's fields, in its order, from a read view row, with `changed` columns as they
    now are."""
    values = {key: row[key] for key in _READ_FIELDS} | (changed or {})
    values["file"] = _part(row, "file_", _FILE_FIELDS)
    values["ocr"] = _part(row, "ocr_", _OCR_FIELDS)
    return values


def _read_of(row: Row, changed: dict[str, Any] | None = None) -> DocumentRead:
    """The full view from a read view row, with `changed` columns as they now are."""
    return DocumentRead.model_validate(read_values(row, changed))


async def session_and_view(
    *, db: Database, token: str | None, document_id: uuid.UUID, now: datetime, policy: SessionPolicy
) -> tuple[Resolved, Row | None]:
    """GET /documents/{id}, the busiest read: the session check and the read view in one query.
    The session is settled as `resolve_session` settles it; the view (for `open_viewed`) only
    comes with a signed-in user."""
    token_hash = token_digest(token) if token else None
    found = (
        await document_crud.get_read_view_by_token(db=db, token_hash=token_hash, document_id=document_id)
        if token_hash
        else None
    )
    resolved = await settle_session(db=db, user=found[0] if found else None, now=now, policy=policy)
    return resolved, (found[1] if found and resolved.user else None)


async def open_viewed(
    *, db: Database, actor: Actor, document_id: uuid.UUID, now: datetime, view: Row | None
) -> dict[str, Any]:
    """A reader opens a document, given its read view (`session_and_view`): 404 if they have no
    role (or it is in its owner's trash and they are not the owner). The view is noted when due.
    DocumentRead's values (`read_values`): the route writes them as they are."""
    row, _trashed = _visible(view)
    if row["seen_at"] is None or now - row["seen_at"] >= VIEW_EVERY:
        await _record_view(db=db, actor=actor, document_id=document_id, now=now)
    return read_values(row)


_READ_FIELDS = tuple(name for name in DocumentRead.model_fields if name not in ("file", "ocr"))
_FILE_FIELDS, _OCR_FIELDS = tuple(FileRead.model_fields), tuple(OcrSummary.model_fields)
_EDIT_ATTEMPTS = 3  # optimistic writes on PostgreSQL before taking the row lock


async def load_access(*, session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> Access:
    """The document and the caller's role, in the unit of work; 404 if they may not see it."""
    found = await document_crud.get_document_with_role(session=session, user_id=actor.id, document_id=document_id)
    if found is None:
        raise NotFound("Document not found")
    document, role = found
    ensure_visible(role, trashed=document.trashed_at is not None)
    return Access(document=document, role=role, actor=actor)


@dataclass(frozen=True, slots=True)
class EditTarget:
    """A document the caller may edit, as they saw it (the read view, app.crud.document)."""

    document_id: uuid.UUID
    actor: Actor
    view: Row


async def editable_view(*, db: Database, actor: Actor, document_id: uuid.UUID) -> EditTarget:
    """404 if the caller may not see the document, 403 if their role may not edit it, 409 if it
    is in the trash; else what they see of it, read on its own connection."""
    row, trashed = await _visible_view(db=db, actor=actor, document_id=document_id)
    ensure_allowed(row["role"], trashed=trashed, permission="edit")
    return EditTarget(document_id=document_id, actor=actor, view=row)


async def save_edit(
    *, db: Database, target: EditTarget, changes: dict[str, Any], expected_versions: list[int], now: datetime
) -> DocumentRead:
    """An editor's change of title and/or content (PATCH, PUT), answered with the full view.

    Same rules as `edit_document`; `target` is what the caller saw (`editable_view`, already
    checked). On PostgreSQL one statement writes the edit at the version seen
    (`update_at_version`: document, version, index row, audit event, recent row). If another
    edit came first, a caller who named a version gets 409; one who did not has theirs applied
    on top (tried again, then, if edits keep coming first, in a unit of work that locks the row:
    no edit is lost). SQLite: the unit of work.
    """
    actor, document_id = target.actor, target.document_id
    pool = await db.driver_pool()
    for attempt in range(_EDIT_ATTEMPTS if pool is not None else 0):
        row = target.view if attempt == 0 else (await editable_view(db=db, actor=actor, document_id=document_id)).view
        if any(v != row["version"] for v in expected_versions):
            raise _conflict(row["version"])
        changed = {key: value for key, value in changes.items() if row[key] != value}
        if not changed:
            return _read_of(row)
        new = {"title": row["title"], "content": row["content"], **changed}
        new |= {"version": row["version"] + 1, "updated_at": now, "updated_by": actor.id}
        pages = await ocr_crud.page_texts(db=db, document_id=document_id) if row["file_filename"] is not None else []
        details = {"fields": sorted(changed), "version": new["version"]}
        if await document_crud.update_at_version(
            pool=pool,
            document_id=document_id,
            read_version=row["version"],
            title=new["title"],
            content=new["content"],
            author_id=actor.id,
            now=now,
            page_count=len(pages),
            index=await search.postgres_index_values(title=new["title"], content=new["content"], pages=pages),
            event=audit.event_values(
                "document.update", actor=actor, target=document_target(document_id), details=details
            ),
        ):
            return _read_of(row, new)
    async with db.unit_of_work() as session:
        access = await load_access(session=session, actor=actor, document_id=document_id)
        ensure_allowed(access.role, trashed=access.document.trashed_at is not None, permission="edit")
        updated = await edit_document(
            session=session, access=access, changes=changes, expected_versions=expected_versions, now=now
        )
        return await document_read(session=session, access=Access(updated, access.role, actor))


async def _record_view(*, db: Database, actor: Actor, document_id: uuid.UUID, now: datetime) -> None:
    """Recent list + `document.view`, at most once per user and document per VIEW_EVERY."""
    async with db.unit_of_work() as own:
        if await sharing_crud.touch_recent(
            session=own, user_id=actor.id, document_id=document_id, now=now, every=VIEW_EVERY
        ):
            await audit.record(own, "document.view", actor=actor, target=document_target(document_id))


async def document_read(*, session: AsyncSession, access: Access) -> DocumentRead:
    """The full view of a document: content, its file and OCR status, the caller's role and star."""
    document = access.document
    file, job, starred = await ocr_crud.get_file_job_and_star(
        session=session, document_id=document.id, user_id=access.actor.id
    )
    read = DocumentRead.model_validate(document)
    read.role = access.role  # type: ignore[assignment]
    read.starred = starred
    read.file = FileRead.model_validate(file) if file else None
    read.ocr = OcrSummary.model_validate(job) if job else None
    return read


async def note_download(*, session: AsyncSession, db: Database, access: Access) -> None:
    """`document.download`, written after the request's read-only transaction."""

    async def record_download() -> None:
        async with db.unit_of_work() as own:
            await audit.record(own, "document.download", actor=access.actor, target=document_target(access.document.id))

    after_finish(session, record_download)


def _in_trash() -> Conflict:
    return Conflict("The document is in the trash; restore it first", code="document_trashed")


def ensure_not_trashed(document: Document) -> None:
    if document.trashed_at is not None:
        raise _in_trash()


async def edit_document(
    *,
    session: AsyncSession,
    access: Access,
    changes: dict[str, Any],
    expected_versions: list[int],
    now: datetime,
    action: str = "document.update",
    details: dict[str, Any] | None = None,
) -> Document:
    """Apply `changes` if every version the client named is the current one.

    A request that changes nothing leaves the version alone; any real change bumps it by one and
    records the new version and an audit event.
    """
    document = access.document
    ensure_not_trashed(document)
    if any(v != document.version for v in expected_versions):
        raise _conflict(document.version)
    changes = {key: value for key, value in changes.items() if getattr(document, key) != value}
    if not changes:
        return document
    expected = expected_versions[0] if expected_versions else None
    updated = await document_crud.update_document_if_version(
        session=session,
        document_id=document.id,
        expected_version=expected,
        values=changes,
        author_id=access.actor.id,
        now=now,
    )
    if updated is None:
        current = await document_crud.get_document_version(session=session, document_id=document.id)
        if current is None:
            raise NotFound("Document not found")
        raise _conflict(current)
    await document_crud.add_version(session=session, document=updated, author_id=access.actor.id)
    await search.reindex_document(session, document_id=document.id, current=updated)
    await audit.record(
        session,
        action,
        actor=access.actor,
        target=document_target(document.id),
        details={"fields": sorted(changes), "version": updated.version, **(details or {})},
    )
    await sharing_crud.touch_recent(
        session=session, user_id=access.actor.id, document_id=document.id, now=now, every=timedelta(0)
    )
    return updated


async def restore_version(
    *, session: AsyncSession, access: Access, version: int, expected_versions: list[int], now: datetime
) -> Document:
    """Make an old version's title and content the document's next version (history stays)."""
    old = await document_crud.get_version(session=session, document_id=access.document.id, version=version)
    if old is None:
        raise NotFound("Version not found", code="version_not_found")
    return await edit_document(
        session=session,
        access=access,
        changes={"title": old.title, "content": old.content},
        expected_versions=expected_versions,
        now=now,
        action="document.restore_version",
        details={"restored_from": version},
    )


async def trash_document(*, session: AsyncSession, access: Access, now: datetime) -> None:
    # The update is the check: of two requests racing, only one moves it.
    if not await document_crud.set_trashed(session=session, document_id=access.document.id, trashed_at=now):
        raise _in_trash()
    await audit.record(session, "document.trash", actor=access.actor, target=document_target(access.document.id))


async def restore_from_trash(*, session: AsyncSession, access: Access) -> None:
    if not await document_crud.set_trashed(session=session, document_id=access.document.id, trashed_at=None):
        raise Conflict("The document is not in the trash", code="not_trashed")
    await audit.record(session, "document.restore", actor=access.actor, target=document_target(access.document.id))


async def purge_document(
    *, session: AsyncSession, storage: Storage, document: Document, actor: Actor | None, reason: str
) -> None:
    """Delete the row (versions, shares, links, stars, file and OCR rows cascade) and, once that
    is committed, its stored file. Its audit rows stay."""
    file = await ocr_crud.get_file(session=session, document_id=document.id)
    if not await document_crud.delete_document(session=session, document_id=document.id):
        raise NotFound("Document not found")  # purged meanwhile by another request
    await audit.record(
        session,
        "document.purge",
        actor=actor,
        target=document_target(document.id),
        details={"title": document.title, "reason": reason},
    )
    if file is not None:
        key = file.storage_key
        after_commit(session, lambda: storage.delete(key))
