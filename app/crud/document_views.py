"""What readers see of documents: one document's read view and a page of summaries, each one
query built once (app.db.prepared). Every query goes through the visibility rule."""

from __future__ import annotations

import operator
import uuid
from functools import cache, reduce
from typing import Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.crud.session import SessionUser, caller_lookup, session_user_of
from app.crud.visibility import has_role, member_where, owned_where, role_of
from app.db.prepared import AnySelect, PreparedQuery, Row
from app.db.session import Database
from app.models import Document, DocumentFile, DocumentRecent, DocumentShare, DocumentStar, OcrJob, User

Scope = Literal["all", "owned", "shared"]
_Id = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]  # an id column, or the parameter standing for one
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


def _starred(document_id: _Id, user_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    return exists().where(DocumentStar.document_id == document_id, DocumentStar.user_id == user_id)


def _read_view(user_id: ColumnElement[uuid.UUID], *, caller: AnySelect | None = None) -> PreparedQuery:
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
    # `file`: the first file (a multi-photo document's others are listed by GET .../files).
    first_file = and_(DocumentFile.document_id == Document.id, DocumentFile.position == 1)
    return PreparedQuery(stmt.outerjoin(DocumentFile, first_file).outerjoin(OcrJob, OcrJob.document_id == Document.id))


_READ_VIEW = _read_view(bindparam("user_id", type_=Document.owner_id.type))
_READ_VIEW_FOR_SESSION = _read_view(User.id.expression, caller=caller_lookup(_CALLER))


async def get_read_view(*, db: Database, user_id: uuid.UUID, document_id: uuid.UUID) -> Row | None:
    """Everything a reader sees of a document, in one query on its own connection: its columns,
    the caller's role (None: no role, not returned), star, when they last opened it, its file
    (`file_*`, None without one) and OCR job (`ocr_*`). Trashed or not: the caller decides."""
    return await _READ_VIEW.first(db, user_id=user_id, document_id=document_id)


async def get_read_view_in(*, session: AsyncSession, user_id: uuid.UUID, document_id: uuid.UUID) -> Row | None:
    """`get_read_view` in the caller's unit of work (its pending changes flushed first)."""
    await session.flush()
    params = {"user_id": user_id, "document_id": document_id}
    return (await session.execute(_READ_VIEW.statement, params)).mappings().first()


async def get_read_view_for_session(
    *, db: Database, token_hash: str, document_id: uuid.UUID
) -> tuple[SessionUser, Row] | None:
    """The session check (app.crud.session.caller_lookup) and the read view of a document for
    that session's user, in one query: None for an unknown session; else the session's user,
    expired or not, and the view, whose `role` is None if the user has no role on the document
    (or it does not exist)."""
    row = await _READ_VIEW_FOR_SESSION.first(db, token_hash=token_hash, document_id=document_id)
    return (session_user_of(row, _CALLER), row) if row else None


@cache  # one per combination of options (72 at most), built and compiled on first use
def _list_query(*, scope: Scope, sort: str, starred: bool, trashed: bool) -> PreparedQuery:
    """One query for a page of summaries and the total, as a UNION of the owned and the shared
    documents: each part walks its own index in the page's order and stops after `offset + limit`
    rows, so a page costs the same however many documents the user (or the table) has. The total
    rides on every row (`total`), counted per part."""
    user_id = bindparam("user_id", type_=Document.owner_id.type)
    window = bindparam("window", type_=BigInteger)  # offset + limit: may pass 2**31 - 1
    column = _SORT_COLUMNS[sort.lstrip("-")]
    descending = sort.startswith("-")
    parts: list[AnySelect] = []
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
    return PreparedQuery(
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
