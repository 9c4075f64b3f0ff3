"""search (PostgreSQL): adjacent-pair and title tsvectors beside the full one

Revision ID: 0006_search_pairs_title
Revises: 0005_live_owner_index
Create Date: 2026-11-28 17:10:00

`pairs` (each two adjacent tokens as one lexeme, GIN) answers phrases from the index alone;
`title_tsv` (the title's tokens) tells a title hit without reading the large `tsv`. See
app/search/_postgres.py. Existing documents are indexed again here, in batches. SQLite's FTS5
index checks phrases itself and is unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from app.search import body_tokens
from app.search._postgres import index_values
from app.search._text import tokens

revision: str = "0006_search_pairs_title"
down_revision: str | Sequence[str] | None = "0005_live_owner_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
_documents = sa.table(
    "documents", sa.column("id", sa.Uuid), sa.column("title", sa.String), sa.column("content", sa.Text)
)
_pages = sa.table(
    "ocr_pages", sa.column("document_id", sa.Uuid), sa.column("number", sa.Integer), sa.column("text", sa.Text)
)
_index = sa.table(
    "search_documents",
    sa.column("document_id", sa.Uuid),
    sa.column("tsv", TSVECTOR),
    sa.column("title_tsv", TSVECTOR),
    sa.column("pairs", TSVECTOR),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for column in ("title_tsv", "pairs"):
        op.add_column("search_documents", sa.Column(column, TSVECTOR(), nullable=False, server_default=""))
    _reindex(bind)
    for column in ("title_tsv", "pairs"):
        op.alter_column("search_documents", column, server_default=None)
    op.create_index("ix_search_documents_pairs", "search_documents", ["pairs"], postgresql_using="gin")


def _reindex(bind: sa.Connection) -> None:
    after = None
    while True:
        stmt = sa.select(_documents.c.id, _documents.c.title, _documents.c.content).order_by(_documents.c.id)
        if after is not None:
            stmt = stmt.where(_documents.c.id > after)
        batch = bind.execute(stmt.limit(BATCH)).all()
        if not batch:
            return
        after = batch[-1].id
        pages: dict[object, list[tuple[int, str]]] = {row.id: [] for row in batch}
        page_rows = sa.select(_pages.c.document_id, _pages.c.number, _pages.c.text).where(
            _pages.c.document_id.in_(list(pages))
        )
        for document_id, number, text in bind.execute(page_rows):
            pages[document_id].append((number, text))
        rows = [
            {"id": row.id, **index_values(tokens(row.title), body_tokens(row.content, pages[row.id]))} for row in batch
        ]
        columns = {name: sa.cast(sa.bindparam(name), TSVECTOR) for name in ("tsv", "title_tsv", "pairs")}
        bind.execute(sa.update(_index).where(_index.c.document_id == sa.bindparam("id")).values(**columns), rows)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_search_documents_pairs", table_name="search_documents", postgresql_using="gin")
    for column in ("pairs", "title_tsv"):
        op.drop_column("search_documents", column)
