"""search: full-text index of titles, content and OCR pages

Revision ID: 0004_search
Revises: 0003_sharing
Create Date: 2026-11-28 09:00:00

The index tables are not in the models' metadata (their shape differs per engine); env.py leaves
names starting with `search_` out of autogenerate. Existing documents are indexed here, in
batches, with the application's normalizer and stemmer.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from app.search import body_tokens
from app.search._postgres import tsvector_literal
from app.search._text import tokens

# revision identifiers, used by Alembic.
revision: str = "0004_search"
down_revision: str | Sequence[str] | None = "0003_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

_documents = sa.table(
    "documents", sa.column("id", sa.Uuid), sa.column("title", sa.String), sa.column("content", sa.Text)
)
_pages = sa.table(
    "ocr_pages", sa.column("document_id", sa.Uuid), sa.column("number", sa.Integer), sa.column("text", sa.Text)
)
_sqlite_index = sa.table(
    "search_documents", sa.column("document_id", sa.Uuid), sa.column("title", sa.Text), sa.column("body", sa.Text)
)
_postgres_index = sa.table("search_documents", sa.column("document_id", sa.Uuid), sa.column("tsv", TSVECTOR))

_SQLITE_OBJECTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title, body, content='search_documents', content_rowid='id', tokenize='ascii')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END",
]


def upgrade() -> None:
    """Index tables per engine, then index the documents already there."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_table(
            "search_documents",
            sa.Column("document_id", sa.Uuid(), nullable=False),
            sa.Column("tsv", TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(
                ["document_id"],
                ["documents.id"],
                name=op.f("fk_search_documents_document_id_documents"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("document_id", name=op.f("pk_search_documents")),
        )
        op.create_index("ix_search_documents_tsv", "search_documents", ["tsv"], postgresql_using="gin")
    else:
        op.create_table(
            "search_documents",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("document_id", sa.Uuid(), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(
                ["document_id"],
                ["documents.id"],
                name=op.f("fk_search_documents_document_id_documents"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
            sa.UniqueConstraint("document_id", name=op.f("uq_search_documents_document_id")),
        )
        for statement in _SQLITE_OBJECTS:
            op.execute(statement)
    _backfill(bind)


def _backfill(bind: sa.Connection) -> None:
    is_postgres = bind.dialect.name == "postgresql"
    after = None
    while True:
        stmt = (
            sa.select(_documents.c.id, _documents.c.title, _documents.c.content).order_by(_documents.c.id).limit(BATCH)
        )
        if after is not None:
            stmt = stmt.where(_documents.c.id > after)
        batch = bind.execute(stmt).all()
        if not batch:
            return
        after = batch[-1].id
        pages: dict[object, list[tuple[int, str]]] = {row.id: [] for row in batch}
        for document_id, number, text in bind.execute(
            sa.select(_pages.c.document_id, _pages.c.number, _pages.c.text).where(_pages.c.document_id.in_(list(pages)))
        ):
            pages[document_id].append((number, text))
        rows = []
        for row in batch:
            title, body = tokens(row.title), body_tokens(row.content, pages[row.id])
            if is_postgres:
                rows.append({"document_id": row.id, "tsv_literal": tsvector_literal(title, body)})
            else:
                rows.append({"document_id": row.id, "title": " ".join(title), "body": " ".join(body)})
        if is_postgres:
            bind.execute(sa.insert(_postgres_index).values(tsv=sa.cast(sa.bindparam("tsv_literal"), TSVECTOR)), rows)
        else:
            bind.execute(sa.insert(_sqlite_index), rows)


def downgrade() -> None:
    """Drop the index."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_tsv", table_name="search_documents", postgresql_using="gin")
    else:
        for trigger in ("search_documents_au", "search_documents_ad", "search_documents_ai"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_documents")
