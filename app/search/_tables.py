"""The index tables, for queries. They live in their own MetaData, not in `Base.metadata`: their
shape differs per engine (FTS5 on SQLite, tsvector on PostgreSQL) and the migration creates them.
Every name starts with `search_`; see `include_name` in the package face."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR

PREFIX = "search_"

_sqlite = sa.MetaData()
_postgres = sa.MetaData()

# SQLite: one row per document holding its token streams; `search_fts` (FTS5, external content
# over this table, kept in step by triggers) indexes them. Its rowid is `id`.
sqlite_documents = sa.Table(
    "search_documents",
    _sqlite,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
sqlite_fts = sa.table("search_fts", sa.column("rowid", sa.Integer), sa.column("search_fts"), sa.column("title"))

# PostgreSQL: tsvectors per document (see _postgres): all tokens, the title's, adjacent pairs;
# and copies of the document's owner, updated_at and trashed_at (written with the row, then kept
# in step by a trigger on `documents`: migration 0008), so a search reads this table alone.
postgres_documents = sa.Table(
    "search_documents",
    _postgres,
    sa.Column("document_id", sa.Uuid, primary_key=True),
    sa.Column("owner_id", sa.Uuid, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("tsv", TSVECTOR, nullable=False),
    sa.Column("title_tsv", TSVECTOR, nullable=False),
    sa.Column("pairs", TSVECTOR, nullable=False),
)
