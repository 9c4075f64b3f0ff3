"""search (PostgreSQL): a smaller GIN pending list, flushed in smaller pieces

Revision ID: 0010_search_gin_pending_list
Revises: 0009_lz4_and_trash_index
Create Date: 2026-12-06 07:00:00

New index entries go to a GIN index's pending list; the insert that takes the list past
`gin_pending_list_limit` (4 MB by default) merges all of it into the index before it returns.
A new document adds 3.4 KB to the `pairs` index's list and 1.9 KB to the `tsv` index's
(pgstatginindex after 7 390 inserts), so at 4 MB one create in about 1 200 spent most of a
second merging, on the core the other requests need: measured here, 32 inserts at once, the
slowest of ~25 000 took 600-660 ms at 4 MB, 90-390 ms at 64-512 kB, 4-8 s at 64 MB, with the
same throughput. That is what a write's p99 latency was made of. At 512 kB a merge takes in
about 150 documents.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_search_gin_pending_list"
down_revision: str | Sequence[str] | None = "0009_lz4_and_trash_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_search_documents_owner_tsv", "ix_search_documents_owner_pairs")
LIMIT_KB = 512


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in INDEXES:
            op.execute(f"ALTER INDEX {name} SET (gin_pending_list_limit = {LIMIT_KB})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in INDEXES:
            op.execute(f"ALTER INDEX {name} RESET (gin_pending_list_limit)")
