"""users: the address as typed, matched through a key (NFC, lower-cased) beside it

Revision ID: 0011_users_email_key
Revises: 0010_search_gin_pending_list
Create Date: 2026-12-07 09:00:00

Until now the stored address was the match key itself, NFKC + casefold, which rewrote what the
user typed and merged letters that are distinct in an address (`straße` and `strasse`, Greek
final and medial sigma). From here `email` keeps the address as typed and `email_key` (unique)
is what every lookup compares. Existing rows keep their stored address; their key is computed from it.

On SQLite a NOT NULL column can only be added with a default, and dropping that default (or the
old unique constraint on `email`) means rebuilding `users`, whose DROP TABLE would cascade-delete
every user's sessions and documents while foreign keys are on: the unused default stays there.

Downgrade sets each address to its key: the old code then finds every account whose address is
ASCII; a non-ASCII address the old folding would spell differently (`straße`) cannot sign in
until it is set by hand, and two accounts the old rule would merge cannot be told apart by it.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_users_email_key"
down_revision: str | Sequence[str] | None = "0010_search_gin_pending_list"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_users_email_key"
BATCH = 1000
users = sa.table(
    "users", sa.column("id", sa.Uuid()), sa.column("email", sa.String()), sa.column("email_key", sa.String())
)


def _key(email: str) -> str:
    # app.core.emails.email_key as of this revision (a migration must not change with the app).
    return unicodedata.normalize("NFC", email.strip()).lower()


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("users", sa.Column("email_key", sa.String(length=320), nullable=False, server_default=""))
    rows = bind.execute(sa.select(users.c.id, users.c.email)).all()
    fill = users.update().where(users.c.id == sa.bindparam("b_id")).values(email_key=sa.bindparam("b_key"))
    for start in range(0, len(rows), BATCH):
        bind.execute(fill, [{"b_id": id_, "b_key": _key(email)} for id_, email in rows[start : start + BATCH]])
    if bind.dialect.name == "postgresql":
        op.alter_column("users", "email_key", server_default=None)
    op.create_index(INDEX, "users", ["email_key"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
    op.execute(users.update().values(email=users.c.email_key))
    op.drop_column("users", "email_key")
