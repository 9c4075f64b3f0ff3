from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class IdempotencyKey(Base):
    """A create made with an `Idempotency-Key`: a retry with the same key (by the same user, with
    the same request) gets the same answer instead of a second document. Kept 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of what was asked (the route and its input): the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(index=True)
