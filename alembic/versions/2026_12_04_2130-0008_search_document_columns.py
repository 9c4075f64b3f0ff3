"""search (PostgreSQL): the document's owner, updated_at and trashed_at copied into its index row

Revision ID: 0008_search_document_columns
Revises: 0007_search_reindex
Create Date: 2026-12-04 21:30:00

A search is counted, filtered by visibility and ordered by recency over every match. With these
columns beside the tsvectors it reads `search_documents` alone instead of looking up each match
in `documents` (for a word in most of 100 000 documents, most of the query's time). The GIN
indexes take `owner_id` as a first column (`btree_gin`), so one owner's matches come from the
index. The index upsert writes the three columns; a trigger on `documents` keeps them in step
with every later change (trash, restore, an edit's `updated_at`). SQLite joins `documents` and is
unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_search_document_columns"
down_revision: str | Sequence[str] | None = "0007_search_reindex"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOLLOW = """
CREATE FUNCTION search_documents_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_documents
       SET owner_id = NEW.owner_id, updated_at = NEW.updated_at, trashed_at = NEW.trashed_at
     WHERE document_id = NEW.id
       AND (owner_id, updated_at, trashed_at) IS DISTINCT FROM (NEW.owner_id, NEW.updated_at, NEW.trashed_at);
    RETURN NULL;
END $$
"""
_TRIGGER = """
CREATE TRIGGER search_documents_follow AFTER UPDATE OF owner_id, updated_at, trashed_at ON documents
FOR EACH ROW
WHEN ((OLD.owner_id, OLD.updated_at, OLD.trashed_at) IS DISTINCT FROM (NEW.owner_id, NEW.updated_at, NEW.trashed_at))
EXECUTE FUNCTION search_documents_follow()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Writers of `documents` (a server still running the old code) wait until the trigger is
    # there: a trash or restore between the backfill and the trigger would be lost in the copy.
    op.execute("LOCK TABLE documents IN SHARE ROW EXCLUSIVE MODE")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    # Dropped before the backfill (an UPDATE would write every row's entries into both again).
    op.drop_index("ix_search_documents_tsv", table_name="search_documents", postgresql_using="gin")
    op.drop_index("ix_search_documents_pairs", table_name="search_documents", postgresql_using="gin")
    op.add_column("search_documents", sa.Column("owner_id", sa.Uuid(), nullable=True))
    op.add_column("search_documents", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("search_documents", sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE search_documents AS s SET owner_id = d.owner_id, updated_at = d.updated_at, trashed_at = d.trashed_at"
        " FROM documents AS d WHERE d.id = s.document_id"
    )
    op.alter_column("search_documents", "owner_id", nullable=False)
    op.alter_column("search_documents", "updated_at", nullable=False)
    op.create_index("ix_search_documents_owner_tsv", "search_documents", ["owner_id", "tsv"], postgresql_using="gin")
    op.create_index(
        "ix_search_documents_owner_pairs", "search_documents", ["owner_id", "pairs"], postgresql_using="gin"
    )
    op.execute(_FOLLOW)
    op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER search_documents_follow ON documents")
    op.execute("DROP FUNCTION search_documents_follow()")
    op.drop_index("ix_search_documents_owner_pairs", table_name="search_documents", postgresql_using="gin")
    op.drop_index("ix_search_documents_owner_tsv", table_name="search_documents", postgresql_using="gin")
    for column in ("trashed_at", "updated_at", "owner_id"):
        op.drop_column("search_documents", column)
    op.create_index("ix_search_documents_tsv", "search_documents", ["tsv"], postgresql_using="gin")
    op.create_index("ix_search_documents_pairs", "search_documents", ["pairs"], postgresql_using="gin")
