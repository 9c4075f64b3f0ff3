from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from app.core.emails import email_key
from app.models.base import Base, utcnow


def _key_of_email(context: DefaultExecutionContext) -> str:
    return email_key(context.get_current_parameters()["email"])


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # As the user typed it (trimmed), shown back as such. Its unique constraint dates from when
    # this column was the key; the key's unique index implies it now.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # What sign-in, sign-up and sharing match on (app.core.emails), derived on every insert so no
    # writer can forget it; unique, so two spellings of one address are one account.
    email_key: Mapped[str] = mapped_column(String(320), index=True, unique=True, default=_key_of_email)
    full_name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
