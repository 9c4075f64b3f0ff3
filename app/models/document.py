from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_owner_id_updated_at", "owner_id", "updated_at"),
        # The live (not trashed) documents of an owner: the list's first part and its count read
        # this index alone.
        Index(
            "ix_documents_live_owner_id_updated_at",
            "owner_id",
            "updated_at",
            postgresql_where=text("trashed_at IS NULL"),
            sqlite_where=text("trashed_at IS NULL"),
        ),
        # For the trash purge alone: a live document has no entry (one index less to write).
        Index(
            "ix_documents_trashed_at",
            "trashed_at",
            postgresql_where=text("trashed_at IS NOT NULL"),
            sqlite_where=text("trashed_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set while the document is in its owner's trash; purged TRASH_RETENTION_DAYS later.
    trashed_at: Mapped[datetime | None] = mapped_column()
