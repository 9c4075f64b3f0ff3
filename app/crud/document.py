"""Documents: data access only. Every query goes through the visibility rule."""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache, reduce
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.crud.session import SessionUser, session_user_columns, session_user_of
from app.crud.visibility import document_visible_to, has_role, member_where, owned_where, role_of
from app.db.driver import DriverPool
from app.db.hot import HotQuery, HotWrite, Row
from app.db.session import Database
from app.models import (
    AuditEvent,
    Document,
    DocumentFile,
    DocumentRecent,
    DocumentShare,
    DocumentStar,
    DocumentVersion,
    OcrJob,
    OcrPage,
    Session,
    User,
)

Scope = Literal["all", "owned", "shared"]
_CALLER = "caller_"  # the session check's columns, in a statement that answers it along the way
_SORT_COLUMNS = {"updated": Document.updated_at, "created": Document.created_at, "title": Document.title}
SUMMARY_COLUMNS = (
    Document.id,
    Document.title,
    Document.owner_id,
    Document.version,
    Document.created_at,
    Document.updated_at,
    Document.created_by,
    Document.updated_by,
    Document.trashed_at,
)


def new_document(*, owner_id: uuid.UUID, title: str, content: str, now: datetime) -> Document:
    """A document's first state, not yet added anywhere."""
    return Document(
        id=uuid.uuid4(),
        owner_id=owner_id,
        title=title,
        content=content,
        version=1,
        created_at=now,
        updated_at=now,
        created_by=owner_id,
        updated_by=owner_id,
    )


async def create_document(
    *, session: AsyncSession, owner_id: uuid.UUID, title: str, content: str, now: datetime
) -> Document:
    document = new_document(owner_id=owner_id, title=title, content=content, now=now)
    await add_new(session=session, document=document)
    return document


async def add_new(*, session: AsyncSession, document: Document) -> None:
    """Add a document from `new_document` and its first version."""
    session.add(document)
    await session.flush()
    await add_version(session=session, document=document, author_id=document.owner_id)


async def add_version(*, session: AsyncSession, document: Document, author_id: uuid.UUID | None) -> None:
    """Record the document's current title and content as its version `document.version`."""
    session.add(
        DocumentVersion(
            document_id=document.id,
            version=document.version,
            title=document.title,
            content=document.content,
            author_id=author_id,
            created_at=document.updated_at,
        )
    )
    await session.flush()


# An event's columns but its id and those only a repeated refusal sets (their defaults apply).
_EVENT_COLUMNS = tuple(c.key for c in AuditEvent.__table__.columns if c.key not in ("id", "count", "refusal_key"))


def _event_binds(**columns: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """An audit event's columns as parameters `event_<column>` (see `_event_params`), but those
    given in `columns`."""
    table = AuditEvent.__table__.c
    return [
        columns[name]
        if name in columns
        else cast(bindparam(f"event_{name}", type_=Text), JSON)
        if name == "details"
        else bindparam(f"event_{name}", type_=table[name].type)
        for name in _EVENT_COLUMNS
    ]


def _event_params(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event`: `audit.event_values`."""
    params = {f"event_{name}": event[name] for name in _EVENT_COLUMNS}
    params["event_details"] = json.dumps(event["details"])
    return params


_NEW_COLUMNS = ("id", "owner_id", "title", "content", "version", "created_at", "updated_at", "created_by", "updated_by")


def _insert_new(*, as_session: bool) -> HotWrite:
    """A new document, its first version, its search index row and its audit event: one statement.

    `as_session`: the owner is the user of the session `token_hash`, found in the same statement,
    and nothing is written unless that session is live at `created_at` (expires_at after it, the
    session check's rule); the row returned carries the session check's columns (`caller_*`, as
    `get_read_view_by_token`'s) and `created_id`, or is absent for an unknown token. Otherwise the
    owner is `owner_id`, the event's actor `event_actor_id`/`event_actor_email`."""
    created_at = bindparam("created_at", type_=Document.created_at.type)
    if as_session:
        caller = (
            select(*session_user_columns(_CALLER))
            .join(User, User.id == Session.user_id)
            .where(Session.token_hash == bindparam("token_hash"))
            .cte("caller")
        )
        live = select(caller).where(caller.c[_CALLER + "expires_at"] > created_at).cte("live_caller")
        owner: ColumnElement[Any] = live.c[_CALLER + "id"]
    else:
        owner = bindparam("owner_id", type_=Document.owner_id.type)
    values = [
        bindparam("document_id", type_=Document.id.type),
        owner,
        bindparam("title", type_=Document.title.type),
        bindparam("content", type_=Document.content.type),
        bindparam("version", type_=Integer),
        created_at,
        created_at,
        owner,
        owner,
    ]
    document = insert(Document).from_select(list(_NEW_COLUMNS), select(*values))
    new = document.returning(
        Document.id,
        Document.owner_id,
        Document.title,
        Document.content,
        Document.version,
        Document.updated_at,
        Document.trashed_at,
    ).cte("new_document")
    version = insert(DocumentVersion).from_select(
        ["document_id", "version", "title", "content", "author_id", "created_at"],
        select(new.c.id, new.c.version, new.c.title, new.c.content, new.c.owner_id, new.c.updated_at),
    )
    if as_session:
        actor = {"actor_id": new.c.owner_id, "actor_email": live.c[_CALLER + "email"]}
        event = select(*_event_binds(**actor)).select_from(new.join(live, live.c[_CALLER + "id"] == new.c.owner_id))
        answer = select(caller, new.c.id.label("created_id")).select_from(caller.outerjoin(new, true()))
    else:
        event = select(*_event_binds()).select_from(new)
        answer = select(new.c.id)
    ctes = [
        version.cte("new_version"),
        search.postgres_index_row(new, new=True).cte("new_index"),
        insert(AuditEvent).from_select(list(_EVENT_COLUMNS), event).cte("new_event"),
    ]
    return HotWrite(answer.add_cte(*ctes))


_INSERT_NEW, _INSERT_NEW_AS = _insert_new(as_session=False), _insert_new(as_session=True)


async def insert_new(*, pool: DriverPool, document: Document, index: dict[str, str], event: Mapping[str, Any]) -> None:
    """Write a new document (from `new_document`) at version 1 with its index row (`index`:
    `search.postgres_index_values`) and its `document.create` event (`audit.event_values`),
    atomically (PostgreSQL)."""
    columns = {name: getattr(document, name) for name in ("owner_id", "title", "content", "version", "created_at")}
    await _INSERT_NEW.run(pool, document_id=document.id, **columns, **index, **_event_params(event))


async def insert_new_as(
    *,
    pool: DriverPool,
    token_hash: str,
    document_id: uuid.UUID,
    title: str,
    content: str,
    now: datetime,
    index: dict[str, str],
    event: Mapping[str, Any],
) -> tuple[SessionUser, bool] | None:
    """`insert_new`, owned by the user of the session `token_hash` (also the event's actor) if that
    session is live at `now`, found in the same statement (PostgreSQL): None for an unknown token;
    else the session's user, expired or not, and whether the document was written."""
    row = await _INSERT_NEW_AS.run(
        pool,
        token_hash=token_hash,
        document_id=document_id,
        title=title,
        content=content,
        version=1,
        created_at=now,
        **index,
        **_event_params(event),
    )
    return (session_user_of(row, _CALLER), row["created_id"] is not None) if row else None


def _update_at_version() -> HotWrite:
    """An edit of the version that was read: the document, its new version, its index row, its
    audit event and the editor's "recent" row, in one statement. Each part reads the UPDATE's
    RETURNING, so if the version moved on, the document went to the trash or its OCR pages
    changed since they were read, nothing at all is written (no row comes back)."""
    author = bindparam("author_id", type_=Document.updated_by.type)
    now = bindparam("now", type_=Document.updated_at.type)
    updated = (
        update(Document)
        .where(
            Document.id == bindparam("document_id", type_=Document.id.type),
            Document.version == bindparam("read_version", type_=Integer),
            Document.trashed_at.is_(None),
            # The OCR pages indexed are the ones read (OCR may finish in between).
            select(func.count()).where(OcrPage.document_id == Document.id).scalar_subquery()
            == bindparam("page_count", type_=Integer),
        )
        .values(
            title=bindparam("new_title", type_=Document.title.type),
            content=bindparam("new_content", type_=Document.content.type),
            version=Document.version + 1,
            updated_at=now,
            updated_by=author,
        )
        .returning(
            Document.id,
            Document.version,
            Document.title,
            Document.content,
            Document.owner_id,
            Document.updated_at,
            Document.trashed_at,
        )
        .cte("updated")
    )
    version = insert(DocumentVersion).from_select(
        ["document_id", "version", "title", "content", "author_id", "created_at"],
        select(updated.c.id, updated.c.version, updated.c.title, updated.c.content, author, now),
    )
    event = insert(AuditEvent).from_select(list(_EVENT_COLUMNS), select(*_event_binds()).select_from(updated))
    recent = pg_insert(DocumentRecent).from_select(
        ["user_id", "document_id", "seen_at"], select(author, updated.c.id, now)
    )
    recent = recent.on_conflict_do_update(
        index_elements=[DocumentRecent.user_id, DocumentRecent.document_id],
        set_={"seen_at": recent.excluded.seen_at},
        where=DocumentRecent.seen_at <= recent.excluded.seen_at,
    )
    ctes = [
        version.cte("new_version"),
        search.postgres_index_row(updated).cte("new_index"),
        event.cte("new_event"),
        recent.cte("recent"),
    ]
    return HotWrite(select(updated.c.version).add_cte(*ctes))


_UPDATE_AT_VERSION = _update_at_version()


async def update_at_version(
    *,
    pool: DriverPool,
    document_id: uuid.UUID,
    read_version: int,
    title: str,
    content: str,
    author_id: uuid.UUID,
    now: datetime,
    page_count: int,
    index: dict[str, str],
    event: Mapping[str, Any],
) -> bool:
    """Save an edit made to `read_version` of a document with `page_count` OCR pages, indexed
    as `index` (PostgreSQL); False, writing nothing, if it is no longer as read or is in the trash."""
    row = await _UPDATE_AT_VERSION.run(
        pool,
        document_id=document_id,
        read_version=read_version,
        page_count=page_count,
        new_title=title,
        new_content=content,
        author_id=author_id,
        now=now,
        **index,
        **_event_params(event),
    )
    return row is not None


async def get_document_with_role(
    *, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID
) -> tuple[Document, str] | None:
    """The document and the caller's role on it, trashed or not; None if the caller has no role."""
    stmt = select(Document, role_of(user_id)).where(Document.id == document_id, has_role(user_id))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


def _starred(document_id: ColumnElement[uuid.UUID], user_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    return exists().where(DocumentStar.document_id == document_id, DocumentStar.user_id == user_id)


def _read_view(user_id: ColumnElement[uuid.UUID], *, caller: Select[Any] | None = None) -> HotQuery:
    """The read view of document `document_id` for `user_id`; with `caller`, a select of the
    session check's columns, that select with the view outer-joined (a document the user may not
    see leaves the view's columns NULL)."""
    seen_at = (
        select(DocumentRecent.seen_at)
        .where(DocumentRecent.document_id == Document.id, DocumentRecent.user_id == user_id)
        .scalar_subquery()
    )
    job = OcrJob
    parts = {
        "file": (DocumentFile.filename, DocumentFile.size, DocumentFile.content_type, DocumentFile.sha256),
        "ocr": (job.status, job.languages, job.pages_total, job.pages_done, job.error, job.started_at, job.finished_at),
    }
    part_columns = [column.label(f"{part}_{column.key}") for part, columns in parts.items() for column in columns]
    columns = (
        *SUMMARY_COLUMNS,
        Document.content,
        role_of(user_id).label("role"),
        _starred(Document.id, user_id).label("starred"),
        seen_at.label("seen_at"),
        *part_columns,
    )
    this_document = Document.id == bindparam("document_id", type_=Document.id.type)
    if caller is None:
        stmt = select(*columns).where(this_document, has_role(user_id))
    else:
        stmt = caller.add_columns(*columns).outerjoin(Document, and_(this_document, has_role(user_id)))
    return HotQuery(
        stmt.outerjoin(DocumentFile, DocumentFile.document_id == Document.id).outerjoin(
            OcrJob, OcrJob.document_id == Document.id
        )
    )


_READ_VIEW = _read_view(bindparam("user_id", type_=Document.owner_id.type))
_READ_VIEW_BY_TOKEN = _read_view(
    User.id,
    caller=select(*session_user_columns(_CALLER))
    .join(User, User.id == Session.user_id)
    .where(Session.token_hash == bindparam("token_hash")),
)


async def get_read_view(*, db: Database, user_id: uuid.UUID, document_id: uuid.UUID) -> Row | None:
    """Everything a reader sees of a document, in one query on its own connection: its columns,
    the caller's role (None: no role, not returned), star, when they last opened it, its file
    (`file_*`, None without one) and OCR job (`ocr_*`). Trashed or not: the caller decides."""
    return await _READ_VIEW.first(db, user_id=user_id, document_id=document_id)


async def get_read_view_by_token(
    *, db: Database, token_hash: str, document_id: uuid.UUID
) -> tuple[SessionUser, Row] | None:
    """The session check (app.crud.session) and the read view of a document for that session's
    user, in one query: None for an unknown token; else the session's user, expired or not, and
    the view, whose `role` is None if the user has no role on the document (or it does not exist)."""
    row = await _READ_VIEW_BY_TOKEN.first(db, token_hash=token_hash, document_id=document_id)
    return (session_user_of(row, _CALLER), row) if row else None


async def get_visible_document(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    stmt = select(Document).where(Document.id == document_id, document_visible_to(user_id))
    return await session.scalar(stmt)


@cache  # one per combination of options (72 at most), built and compiled on first use
def _list_query(*, scope: Scope, sort: str, starred: bool, trashed: bool) -> HotQuery:
    """One query for a page of summaries and the total, as a UNION of the owned and the shared
    documents: each part walks its own index in the page's order and stops after `offset + limit`
    rows, so a page costs the same however many documents the user (or the table) has. The total
    rides on every row (`total`), counted per part."""
    user_id = bindparam("user_id", type_=Document.owner_id.type)
    window = bindparam("window", type_=BigInteger)  # offset + limit: may pass 2**31 - 1
    column = _SORT_COLUMNS[sort.lstrip("-")]
    descending = sort.startswith("-")
    parts: list[Select[Any]] = []
    if trashed:  # the owner's trash
        parts.append(
            select(*SUMMARY_COLUMNS, literal("owner").label("role")).where(
                Document.owner_id == user_id, Document.trashed_at.is_not(None)
            )
        )
    else:
        if scope in ("all", "owned"):
            parts.append(select(*SUMMARY_COLUMNS, literal("owner").label("role")).where(owned_where(user_id)))
        member = member_where(user_id)
        if scope in ("all", "shared") and member is not None:
            parts.append(
                select(*SUMMARY_COLUMNS, DocumentShare.role.label("role"))
                .join(DocumentShare, DocumentShare.document_id == Document.id)
                .where(member)
            )
    if starred:
        parts = [part.where(_starred(Document.id, user_id)) for part in parts]
    total = reduce(operator.add, [select(func.count()).select_from(p.subquery()).scalar_subquery() for p in parts])
    # Each part as a subquery of its own: SQLite takes no ORDER BY/LIMIT on a UNION's members.
    ordered = [
        p.order_by(column.desc() if descending else column.asc(), Document.id.desc()).limit(window).subquery()
        for p in parts
    ]
    page = union_all(*(select(p) for p in ordered)).subquery() if len(ordered) > 1 else ordered[0]
    key = page.c[column.key]
    return HotQuery(
        select(page, _starred(page.c.id, user_id).label("starred"), total.label("total"))
        .order_by(key.desc() if descending else key.asc(), page.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


async def list_documents(
    *,
    db: Database,
    user_id: uuid.UUID,
    scope: Scope,
    sort: str,
    starred: bool,
    trashed: bool,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """A page of summaries (no content) with the caller's role and star (each row also carries
    `total`), and the total."""
    query = _list_query(scope=scope, sort=sort, starred=starred, trashed=trashed)
    rows = await query.all(db, user_id=user_id, window=offset + limit, limit=limit, offset=offset)
    if rows:
        return rows, rows[0]["total"]
    if offset == 0:
        return [], 0
    # Past the last page: count alone.
    rows = await query.all(db, user_id=user_id, window=1, limit=1, offset=0)
    return [], rows[0]["total"] if rows else 0


async def update_document_if_version(
    *,
    session: AsyncSession,
    document_id: uuid.UUID,
    expected_version: int | None,
    values: dict[str, Any],
    author_id: uuid.UUID | None,
    now: datetime,
) -> Document | None:
    """Apply `values` and bump the version in one statement; None if the version moved on.

    The version check is in the UPDATE's WHERE, so of concurrent writers naming the same
    version exactly one matches a row.
    """
    stmt = (
        update(Document)
        .where(Document.id == document_id)
        .values(**values, version=Document.version + 1, updated_at=now, updated_by=author_id)
        .returning(Document)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if expected_version is not None:
        stmt = stmt.where(Document.version == expected_version)
    return await session.scalar(stmt)


async def get_document_version(*, session: AsyncSession, document_id: uuid.UUID) -> int | None:
    return await session.scalar(select(Document.version).where(Document.id == document_id))


async def set_trashed(*, session: AsyncSession, document_id: uuid.UUID, trashed_at: datetime | None) -> bool:
    """Move into the trash (a time) or out of it (None); False if it already was there (or out),
    as when two requests race: only one of them changes the row."""
    already = Document.trashed_at.is_not(None) if trashed_at is not None else Document.trashed_at.is_(None)
    result = await session.execute(
        update(Document).where(Document.id == document_id, ~already).values(trashed_at=trashed_at)
    )
    return result.rowcount == 1


async def delete_document(*, session: AsyncSession, document_id: uuid.UUID) -> bool:
    """Delete the row (versions, shares, links, stars, recents, file row and OCR rows cascade);
    False if it was already gone."""
    result = await session.execute(delete(Document).where(Document.id == document_id))
    return result.rowcount == 1


async def list_trash_older_than(*, session: AsyncSession, cutoff: datetime, limit: int) -> list[Document]:
    stmt = select(Document).where(Document.trashed_at < cutoff).order_by(Document.trashed_at).limit(limit)
    return list((await session.scalars(stmt)).all())


async def list_versions(*, session: AsyncSession, document_id: uuid.UUID) -> list[DocumentVersion]:
    stmt = (
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.version.desc())
    )
    return list((await session.scalars(stmt)).all())


async def get_version(*, session: AsyncSession, document_id: uuid.UUID, version: int) -> DocumentVersion | None:
    return await session.get(DocumentVersion, (document_id, version))
