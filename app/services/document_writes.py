"""A document's create and edit, each one list of statements (app.db.writes), used by every path
that creates or edits one: the API, upload, duplicate, restore.

- create: the document at version 1, its first version, its index row, its event (and, sent with
  an Idempotency-Key, the key's row).
- edit: the new title and content at the version read, that version, the index row, the event,
  the editor's "recent" row.

On PostgreSQL each runs as one statement, elsewhere in sequence in one transaction; which one is
the engine's choice alone. `create_for_session` is the create gated by a live session, found in
the same statement (PostgreSQL's busiest write: tests/test_writes.py); a create sent with an
Idempotency-Key needs its user before its statement (to look the key up), so it is `create`,
keyed, after the session check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, bindparam, select, true

from app import search
from app.crud import audit as audit_crud
from app.crud import document as document_crud
from app.crud import idempotency as idempotency_crud
from app.crud import session as session_crud
from app.crud import sharing as sharing_crud
from app.db.writes import Step, Write
from app.models import Document

CALLER = "caller_"  # the session check's columns in `create_for_session`'s answer


def _create(
    dialect: str,
    owner: ColumnElement[uuid.UUID],
    actor: Mapping[str, ColumnElement[Any]],
    answer: Callable[[CTE], Select[Any]] | None = None,
    *,
    keyed: bool = False,
) -> Write:
    steps: list[Step] = [
        document_crud.version_rows,
        search.index_rows(dialect, new=True),
        partial(audit_crud.event_rows, dialect=dialect, columns=actor),
    ]
    return Write(document_crud.insert_document(owner), [*steps, idempotency_crud.key_rows] if keyed else steps, answer)


@cache
def create(dialect: str, *, keyed: bool = False) -> Write:
    """A new document owned by the parameter `owner_id` (`create_params`); `keyed`: with its
    idempotency key's row as well (`key_params`), which a retry of the same create finds."""
    return _create(dialect, bindparam("owner_id", type_=Document.owner_id.type), {}, keyed=keyed)


@cache
def edit(dialect: str) -> Write:
    """An edit made to the version read (`edit_params`); nothing is written (None) if the
    document is no longer as it was read (app.crud.document.update_at_version)."""
    return Write(
        document_crud.update_at_version(),
        [
            document_crud.version_rows,
            search.index_rows(dialect, new=False),
            partial(audit_crud.event_rows, dialect=dialect),
            sharing_crud.recent_rows(dialect),
        ],
    )


@cache
def create_for_session() -> Write:
    """`create`, owned by the user of the session whose token hash is the parameter
    `token_hash`, the event's actor too, written only if that session is live at `now`
    (app.crud.session.live_at), in one PostgreSQL statement. Its row: the session check's
    columns (`CALLER` + field, as app.crud.session.session_user_columns), expired or not,
    `created_id` (None if nothing was written) and the document's columns; no row for an unknown
    session."""
    caller = session_crud.caller_lookup(CALLER).cte("caller")
    now = bindparam("now", type_=Document.created_at.type)
    live = select(caller).where(session_crud.live_at(caller.c[CALLER + "expires_at"], now)).cte("live_caller")
    actor = {"actor_id": live.c[CALLER + "id"], "actor_email": live.c[CALLER + "email"]}

    def answer(anchor: CTE) -> Select[Any]:
        created = anchor.c.id.label("created_id")
        return select(caller, created, *anchor.c).select_from(caller.outerjoin(anchor, true()))

    return _create("postgresql", live.c[CALLER + "id"], actor, answer)


def create_params(
    *,
    document_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    title: str,
    content: str,
    now: datetime,
    index: dict[str, str],
    event: Mapping[str, Any],
) -> dict[str, Any]:
    """`create`'s parameters (`owner_id` None: `create_for_session`'s). `index`:
    app.search.index_values; `event`: app.services.audit.event_values."""
    params = {"document_id": document_id, "owner_id": owner_id, "title": title, "content": content, "now": now}
    return params | search.index_params(index) | audit_crud.event_params(event)


def key_params(*, key: str, request_hash: str, status_code: int) -> dict[str, Any]:
    """A keyed `create`'s own parameters (app.services.idempotency)."""
    return {"idempotency_key": key, "request_hash": request_hash, "status_code": status_code}


def edit_params(
    *,
    document_id: uuid.UUID,
    read_version: int,
    page_count: int,
    title: str,
    content: str,
    author_id: uuid.UUID,
    now: datetime,
    index: dict[str, str],
    event: Mapping[str, Any],
) -> dict[str, Any]:
    """`edit`'s parameters: the document's new title and content, made to `read_version` with
    `page_count` OCR pages (those `index` was made with)."""
    params = {"document_id": document_id, "read_version": read_version, "page_count": page_count}
    params |= {"title": title, "content": content, "author_id": author_id, "now": now}
    return params | search.index_params(index) | audit_crud.event_params(event)
