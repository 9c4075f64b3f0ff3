"""search: index every document again (one-letter stems refused, joiners removed before NFC)

Revision ID: 0007_search_reindex
Revises: 0006_search_pairs_title
Create Date: 2026-11-28 18:00:00

The tokenizer changed (app/search/_text.py): Snowball's one-letter stems (नदी -> न) are no longer
taken, and a zero-width joiner between a letter and its mark no longer keeps them apart. Queries
are tokenized the new way, so documents indexed the old way are tokenized again here, in batches,
on both engines (SQLite: the token columns, which FTS5's triggers follow; PostgreSQL: the three
tsvectors).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from app.search import body_tokens
from app.search._postgres import index_values
from app.search._text import tokens

revision: str = "0007_search_reindex"
down_revision: str | Sequence[str] | None = "0006_search_pairs_title"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
_documents = sa.table(
    "documents", sa.column("id", sa.Uuid), sa.column("title", sa.String), sa.column("content", sa.Text)
)
_pages = sa.table(
    "ocr_pages", sa.column("document_id", sa.Uuid), sa.column("number", sa.Integer), sa.column("text", sa.Text)
)
_postgres_index = sa.table(
    "search_documents",
    sa.column("document_id", sa.Uuid),
    sa.column("tsv", TSVECTOR),
    sa.column("title_tsv", TSVECTOR),
    sa.column("pairs", TSVECTOR),
)
_sqlite_index = sa.table(
    "search_documents", sa.column("document_id", sa.Uuid), sa.column("title", sa.Text), sa.column("body", sa.Text)
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    after = None
    while True:
        stmt = sa.select(_documents.c.id, _documents.c.title, _documents.c.content).order_by(_documents.c.id)
        batch = bind.execute((stmt if after is None else stmt.where(_documents.c.id > after)).limit(BATCH)).all()
        if not batch:
            return
        after = batch[-1].id
        pages: dict[object, list[tuple[int, str]]] = {row.id: [] for row in batch}
        page_rows = sa.select(_pages.c.document_id, _pages.c.number, _pages.c.text)
        for document_id, number, text in bind.execute(page_rows.where(_pages.c.document_id.in_(list(pages)))):
            pages[document_id].append((number, text))
        streams = {row.id: (tokens(row.title), body_tokens(row.content, pages[row.id])) for row in batch}
        if postgres:
            rows = [{"id": key, **index_values(title, body)} for key, (title, body) in streams.items()]
            values = {name: sa.cast(sa.bindparam(name), TSVECTOR) for name in ("tsv", "title_tsv", "pairs")}
            index = _postgres_index
        else:
            rows = [{"id": key, "t": " ".join(title), "b": " ".join(body)} for key, (title, body) in streams.items()]
            values = {"title": sa.bindparam("t"), "body": sa.bindparam("b")}
            index = _sqlite_index
        bind.execute(sa.update(index).where(index.c.document_id == sa.bindparam("id")).values(**values), rows)


def downgrade() -> None:
    """Nothing to undo: the index stays valid for the older tokenizer but for the few words it
    tokenizes differently."""
