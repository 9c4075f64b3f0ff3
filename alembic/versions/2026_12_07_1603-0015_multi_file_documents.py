"""document_files: several files per document, in order; ocr_pages: the page's picture

Revision ID: 0015_multi_file_documents
Revises: 0014_idempotency_keys
Create Date: 2026-12-07 16:00:00

A three-page letter arrives as three photos: one document, its pages the photos in order. The
file row gains `position` (1, 2 …) and the key becomes (document_id, position): the files of a
document are read in key order, and the single-file routes keep meaning position 1, which every
existing row gets. `page_count` is filled in by the OCR worker when it counts a file's pages, so
that page n of the document maps to (file, page in file) without downloading the earlier files.

`ocr_pages.image_key`: the stored picture of the page a user sees (the photo stage's flattened
page, or a rendering of a scan's or PDF's page made on first request); NULL until there is one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_multi_file_documents"
down_revision: str | Sequence[str] | None = "0014_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(sa.Column("page_count", sa.Integer(), nullable=True))
        batch_op.drop_constraint("pk_document_files", type_="primary")
        batch_op.create_primary_key("pk_document_files", ["document_id", "position"])
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.alter_column("position", server_default=None)
    with op.batch_alter_table("ocr_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ocr_pages", schema=None) as batch_op:
        batch_op.drop_column("image_key")
    op.execute(sa.text("DELETE FROM document_files WHERE position > 1"))
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.drop_constraint("pk_document_files", type_="primary")
        batch_op.create_primary_key("pk_document_files", ["document_id"])
        batch_op.drop_column("page_count")
        batch_op.drop_column("position")
