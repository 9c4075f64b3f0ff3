"""audit_events: a refusal repeated within a minute is one row with a count

Revision ID: 0012_audit_refusal_count
Revises: 0011_users_email_key
Create Date: 2026-12-07 09:00:00

300 requests to random share-link tokens wrote 300 rows. Refusals by the same client, of the
same action on the same target with the same details, within one minute, now share one row:
`refusal_key` names that (a digest), a unique index on it (partial: only refusals have a key,
so the other events' writes do not touch it) lets one INSERT ... ON CONFLICT add to `count`.
A column rather than a count inside `details`: the increment is then one statement on both
engines, and `details` keeps meaning what happened. Existing rows get count 1 and no key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_audit_refusal_count"
down_revision: str | Sequence[str] | None = "0011_users_email_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_events_refusal_key"
REFUSAL_ROWS = sa.text("refusal_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(sa.Column("refusal_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            INDEX, ["refusal_key"], unique=True, postgresql_where=REFUSAL_ROWS, sqlite_where=REFUSAL_ROWS
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column("refusal_key")
        batch_op.drop_column("count")
