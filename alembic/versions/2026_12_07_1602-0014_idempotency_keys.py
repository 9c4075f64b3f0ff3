"""idempotency_keys: a create made with an Idempotency-Key, kept 24 hours

Revision ID: 0014_idempotency_keys
Revises: 0013_worker_heartbeats
Create Date: 2026-12-07 16:02:00

A client that timed out during a hung database retried its creates and got duplicates. A create
sent with an `Idempotency-Key` header writes this row in the same transaction as the document;
a retry with the same key (by the same user) gets the first answer. The primary key is the
user and the key: of two concurrent duplicates, the second's insert waits for the first and
fails, and it then answers as a retry. `created_at` is indexed for the daily prune.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_idempotency_keys"
down_revision: str | Sequence[str] | None = "0013_worker_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_idempotency_keys_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)
    op.create_index(op.f("ix_idempotency_keys_document_id"), "idempotency_keys", ["document_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_document_id"), table_name="idempotency_keys")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
