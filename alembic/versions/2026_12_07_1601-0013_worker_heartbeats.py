"""workers and their heartbeats; a job's claim, crashes and claiming worker

Revision ID: 0013_worker_heartbeats
Revises: 0012_audit_refusal_count
Create Date: 2026-12-07 16:01:00

A job whose worker died waited out its 300 s lease before anyone took it back, and each kill of
its worker counted as one of its three attempts. Now every consumer keeps a row in `workers`
with a heartbeat renewed every few seconds; a claim records the claiming worker, so the jobs of a
worker that is gone (stale heartbeat, or its pid gone from its host) are taken back at once.
`claims` is the claim's token (it was `attempts`), `attempts` counts only runs that ended, and
`crashes` the runs cut short by a dead worker or engine since the last page saved. Existing jobs
keep their attempts as their claims.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_worker_heartbeats"
down_revision: str | Sequence[str] | None = "0012_audit_refusal_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_heartbeat_at"), "workers", ["heartbeat_at"], unique=False)
    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("crashes", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("worker_id", sa.String(length=36), nullable=True))
    op.execute("UPDATE ocr_jobs SET claims = attempts")


def downgrade() -> None:
    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.drop_column("worker_id")
        batch_op.drop_column("crashes")
        batch_op.drop_column("claims")
    op.drop_index(op.f("ix_workers_heartbeat_at"), table_name="workers")
    op.drop_table("workers")
