"""Full-text search over documents' titles, content and OCR pages, right for Nepali.

The face: `index_document` (or `reindex_document`, which reads the row and its OCR pages) and
`remove_document` inside the caller's transaction, or `index_values` first and `store_index` in
it, or `index_rows` as a step of a write (app.db.writes) with `index_params(index_values(...))`;
`search` within what the caller may see, `parse_query` (raises `InvalidQuery`, a ValueError).
One normalizer and stemmer (`_text`) serves both engines; `_sqlite` (FTS5) and `_postgres`
(tsvector) sit behind this module, chosen by the session's dialect. Snippets and page numbers are
ours (`_snippet`). Tokenizing large text runs off the event loop (`_offload`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.rows import rows_changed
from app.models import Document, OcrPage
from app.search import _offload, _postgres, _sqlite
from app.search._query import MAX_QUERY_CHARS, InvalidQuery, ParsedQuery, Term, parse_query
from app.search._snippet import SOURCE_CHARS, snippets_and_pages
from app.search._tables import PREFIX
from app.search._text import tokens

__all__ = [
    "MAX_QUERY_CHARS",
    "InvalidQuery",
    "ParsedQuery",
    "SearchHit",
    "SearchPage",
    "Term",
    "include_name",
    "index_document",
    "index_params",
    "index_rows",
    "index_values",
    "make_index_values",
    "parse_query",
    "reindex_document",
    "remove_document",
    "search",
    "store_index",
]


@dataclass(frozen=True)
class SearchHit:
    document_id: uuid.UUID
    title: str
    updated_at: datetime
    snippet: str  # HTML: escaped text, matches in <mark>
    page: int | None  # the best-matching OCR page; None for a hit in the title or content
    rank: float  # higher is better; 1.0 and above: every required term is in the title


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    total: int


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """For Alembic's `include_name`: the search tables are made by the migration, per engine,
    and are not in the models' metadata (FTS5 adds shadow tables `search_fts_*` of its own)."""
    return not (type_ == "table" and name is not None and name.startswith(PREFIX))


_ENGINES: dict[str, ModuleType] = {"postgresql": _postgres, "sqlite": _sqlite}


def _engine(session: AsyncSession) -> ModuleType:
    return _ENGINES[session.get_bind().dialect.name]


def body_tokens(content: str, pages: list[tuple[int, str]]) -> list[str]:
    """Content, then any page whose text is not already in it (after OCR the content is the
    pages joined: indexing them twice would only double the index and skew the ranks)."""
    found = tokens(content)
    for _number, text in sorted(pages):
        if text not in content:
            found += tokens(text)
    return found


def make_index_values(dialect: str, title: str, content: str, pages: list[tuple[int, str]]) -> dict[str, str]:
    """The index row's values for one document on `dialect`'s engine, computed here and now (what
    `index_values` runs, inline or off the event loop)."""
    return _ENGINES[dialect].index_values(tokens(title), body_tokens(content, pages))


async def index_values(dialect: str, *, title: str, content: str, pages: list[tuple[int, str]]) -> dict[str, str]:
    """The index row's values for one document on `dialect` ("postgresql", "sqlite"), for
    `store_index`: computed inline for small text, off the event loop for large (`_offload`)."""
    size = len(title) + len(content) + sum(len(text) for _number, text in pages)
    return await _offload.run(make_index_values, dialect, title, content, pages, size=size)


def index_rows(dialect: str, *, new: bool) -> Callable[[sa.FromClause], list[sa.Executable]]:
    """A write's step (app.db.writes) on `dialect`'s engine: the document's index row, from a
    relation with its id, owner_id, updated_at and trashed_at (the write's anchor) and the
    parameters `index_params(...)`. `new`: the document has no index row yet."""
    return partial(_ENGINES[dialect].index_rows, new=new)


def index_params(values: dict[str, str]) -> dict[str, str]:
    """`index_rows`' parameters, from `index_values`."""
    return {"index_" + name: value for name, value in values.items()}


@cache
def _stored_rows(dialect: str) -> list[sa.Executable]:
    followed = (Document.id, Document.owner_id, Document.updated_at, Document.trashed_at)
    document = sa.select(*followed).where(Document.id == sa.bindparam("document_id", type_=Document.id.type))
    return index_rows(dialect, new=False)(document.subquery("document"))


async def store_index(session: AsyncSession, *, document_id: uuid.UUID, values: dict[str, str]) -> None:
    """Write a document's index row (`index_values`) in the caller's transaction; writing it
    again replaces it. The row is made from the document's own, so a document not in the
    database (not yet flushed: sessions do not autoflush) is an error, not a row left out."""
    await session.flush()
    params = {"document_id": document_id, **index_params(values)}
    *_replaced, insert = _stored_rows(session.get_bind().dialect.name)
    for statement in _replaced:
        await session.execute(statement, params)
    if await rows_changed(session=session, statement=insert, params=params) == 0:
        raise LookupError(f"document {document_id} is not in the database: flush it before indexing")


async def index_document(
    session: AsyncSession, *, document_id: uuid.UUID, title: str, content: str, pages: list[tuple[int, str]]
) -> None:
    """(Re)index one document in the caller's transaction; indexing it again replaces it."""
    dialect = session.get_bind().dialect.name
    values = await index_values(dialect, title=title, content=content, pages=pages)
    await store_index(session, document_id=document_id, values=values)


async def reindex_document(session: AsyncSession, *, document_id: uuid.UUID, current: Document | None = None) -> None:
    """Index a document as it now stands in the database (after an edit, OCR, a restore):
    `current` when the caller holds the row as it just wrote it (an UPDATE's RETURNING), else
    read again, locked until the caller commits (FOR NO KEY UPDATE on PostgreSQL, which stars,
    shares and versions referencing the row do not wait for; SQLite has one writer at a time):
    an edit saved between this read and the index write would otherwise find its index row
    overwritten with the text read before it. Its OCR pages are read either way."""
    document = current or await session.scalar(
        sa.select(Document)
        .where(Document.id == document_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if document is None:
        await remove_document(session, document_id=document_id)
        return
    page_rows = await session.execute(
        sa.select(OcrPage.number, OcrPage.text).where(OcrPage.document_id == document_id).order_by(OcrPage.number)
    )
    pages = [(number, text) for number, text in page_rows]
    await index_document(session, document_id=document_id, title=document.title, content=document.content, pages=pages)


async def remove_document(session: AsyncSession, *, document_id: uuid.UUID) -> None:
    """Drop a document from the index (deleting the document row does it too)."""
    await _engine(session).remove(session, document_id=document_id)


async def search(
    session: AsyncSession,
    *,
    query: str | ParsedQuery,
    viewer: uuid.UUID | None,
    limit: int,
    offset: int,
) -> SearchPage:
    """A page of hits, best first (title hits, then rank, then most recently updated).

    `viewer`: whose documents to search, by the visibility rule (app.crud.visibility: owned or
    shared, not in the trash); None: every document not in the trash (benchmarks, tests).
    Raises InvalidQuery for input with nothing to search for.
    """
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    rows, total = await _engine(session).find(session, query=parsed, viewer=viewer, limit=limit, offset=offset)
    if not rows:
        return SearchPage(hits=[], total=total)
    sections = await _hit_sections(session, rows)
    size = sum(len(content) + sum(len(text) for _number, text in pages) for _title, content, pages in sections)
    made = await _offload.run(snippets_and_pages, sections, parsed, size=size)
    hits = [
        SearchHit(row.id, row.title, row.updated_at, snippet, page, float(row.rank))
        for row, (snippet, page) in zip(rows, made, strict=True)
    ]
    return SearchPage(hits=hits, total=total)


async def _hit_sections(session: AsyncSession, rows: list[sa.Row[Any]]) -> list[tuple[str, str, list[tuple[int, str]]]]:
    """Each hit's title, and the start of its content and of its OCR pages: what its snippet and
    page number are made from (they read no further, see _snippet)."""
    ids = [row.id for row in rows]
    content = sa.func.substr(Document.content, 1, SOURCE_CHARS)
    contents: dict[uuid.UUID, str] = dict(
        (await session.execute(sa.select(Document.id, content).where(Document.id.in_(ids)))).all()
    )
    pages: dict[uuid.UUID, list[tuple[int, str]]] = {i: [] for i in ids}
    page_rows = await session.execute(
        sa.select(OcrPage.document_id, OcrPage.number, sa.func.substr(OcrPage.text, 1, SOURCE_CHARS))
        .where(OcrPage.document_id.in_(ids))
        .order_by(OcrPage.document_id, OcrPage.number)
    )
    for document_id, number, text in page_rows:
        pages[document_id].append((number, text))
    return [(row.title, contents.get(row.id, ""), pages[row.id]) for row in rows]
