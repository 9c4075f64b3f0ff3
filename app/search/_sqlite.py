"""SQLite engine: FTS5 over our own tokens (tokenizer `ascii`, which splits on ASCII spaces and
punctuation only, so a token of Devanagari letters and marks is kept exactly as we wrote it)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.visibility import document_visible_to
from app.models import Document
from app.search._query import ParsedQuery, Term
from app.search._tables import sqlite_documents as docs
from app.search._tables import sqlite_fts as fts

_TITLE_WEIGHT, _BODY_WEIGHT = 10.0, 1.0


def _phrase(term: Term) -> str:
    # Tokens hold no quote (only letters, digits, marks), so a quoted string is one FTS5 phrase.
    quoted = '"' + " ".join(t.replace('"', "") for t in term.tokens) + '"'
    return quoted + " *" if term.prefix else quoted


def match_expression(query: ParsedQuery) -> tuple[str, str]:
    """(the full FTS5 query, the query for the title column: required terms only)."""
    required = " AND ".join(_phrase(t) for t in query.required)
    full = f"({required})"
    if query.excluded:
        full += " NOT (" + " OR ".join(_phrase(t) for t in query.excluded) + ")"
    return full, required


def index_values(title: list[str], body: list[str]) -> dict[str, str]:
    """The row's token streams, as FTS5's `ascii` tokenizer reads them."""
    return {"title": " ".join(title), "body": " ".join(body)}


def index_rows(source: sa.FromClause, *, new: bool) -> list[sa.Executable]:
    """The document's index row, replacing any it had (`new`: it has none), from the parameters
    `index_title` and `index_body` (`index_values`); `source`: a relation with the document's id."""
    insert = sa.insert(docs).from_select(
        ["document_id", "title", "body"],
        sa.select(source.c.id, sa.bindparam("index_title", type_=sa.Text), sa.bindparam("index_body", type_=sa.Text)),
    )
    if new:
        return [insert]
    # A trigger on search_documents removes the FTS5 entries.
    return [sa.delete(docs).where(docs.c.document_id.in_(sa.select(source.c.id))), insert]


async def remove(session: AsyncSession, *, document_id: uuid.UUID) -> None:
    await session.execute(sa.delete(docs).where(docs.c.document_id == document_id))


async def find(
    session: AsyncSession, *, query: ParsedQuery, viewer: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[sa.Row[Any]], int]:
    visible = Document.trashed_at.is_(None) if viewer is None else document_visible_to(viewer)
    full, title_only = match_expression(query)
    matches = fts.c.search_fts.op("MATCH")(full)
    in_title = fts.alias("title_fts")
    title_hit = sa.case(
        (docs.c.id.in_(sa.select(in_title.c.rowid).where(in_title.c.title.op("MATCH")(title_only))), 1.0), else_=0.0
    )
    # bm25() is lower for better matches; s/(1+s) keeps it below a title hit's 1.0.
    score = -sa.func.bm25(fts.c.search_fts, _TITLE_WEIGHT, _BODY_WEIGHT)
    rank = (title_hit + score / (1.0 + score)).label("rank")
    base = (
        sa.select(Document.id)
        .select_from(fts)
        .join(docs, docs.c.id == fts.c.rowid)
        .join(Document, Document.id == docs.c.document_id)
        .where(matches, visible)
    )
    total = await session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    stmt = (
        base.add_columns(Document.title, Document.updated_at, rank)
        .order_by(rank.desc(), Document.updated_at.desc(), Document.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).all()), total or 0
