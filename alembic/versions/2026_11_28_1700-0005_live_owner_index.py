"""documents: index of each owner's live (not trashed) documents by updated_at

Revision ID: 0005_live_owner_index
Revises: 0004_search
Create Date: 2026-11-28 17:00:00

The document list reads an owner's first page and counts their documents from this partial
index alone (an index-only scan), so a page costs the same in a table of any size.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_live_owner_index"
down_revision: str | Sequence[str] | None = "0004_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_documents_live_owner_id_updated_at"
LIVE = sa.text("trashed_at IS NULL")


def upgrade() -> None:
    op.create_index(NAME, "documents", ["owner_id", "updated_at"], postgresql_where=LIVE, sqlite_where=LIVE)


def downgrade() -> None:
    op.drop_index(NAME, table_name="documents")
