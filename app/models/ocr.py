from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class DocumentFile(Base):
    """One original file of a document, at its place in the document (1, 2 …: the photos of a
    multi-photo upload in order). The storage key is ours, never the client's name."""

    __tablename__ = "document_files"

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its pages, once the OCR worker has counted them: a document's page n is found by adding up
    # the counts of the files before it.
    page_count: Mapped[int | None] = mapped_column(Integer)


class OcrJob(Base):
    """The document's OCR run: the source of truth for the queue (`queued → processing → done | failed`).

    `generation` increases on every re-run, so a task from an earlier run can tell it is stale.
    `base_version` is the document version when queued: OCR text replaces the content only if the
    user has not edited it since.
    """

    __tablename__ = "ocr_jobs"
    __table_args__ = (Index("ix_ocr_jobs_status_lease_expires_at", "status", "lease_expires_at"),)

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    languages: Mapped[str] = mapped_column(String(64))
    # Runs counted against the file: those that ended, in a result or in an error the file caused.
    # A run cut short by its worker or engine dying is not one of them; it counts in `crashes`.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Every claim, counted: the claim's token (a worker whose run was taken over can no longer write).
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Runs cut short by a dead worker or engine since the last page was saved (a page resets it).
    crashes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The worker (`workers.id`) holding the current claim.
    worker_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)
    base_version: Mapped[int] = mapped_column(Integer)
    pages_total: Mapped[int | None] = mapped_column(Integer)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # While processing: the worker's claim; renewed after every page. Past it, the job is re-enqueued.
    lease_expires_at: Mapped[datetime | None]


class OcrPage(Base):
    """One page's text, as OCR or the PDF's text layer gave it, and the page's picture."""

    __tablename__ = "ocr_pages"

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))
    engine: Mapped[str] = mapped_column(String(64))
    languages: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The page as shown (GET .../pages/{n}/image): the photo stage's flattened page, stored by the
    # worker; for a page that was not a photo, drawn from the original on first request. Its
    # object is never rewritten (a new picture gets a new key), so the key is its ETag.
    image_key: Mapped[str | None] = mapped_column(String(255))


class Worker(Base):
    """A running queue consumer, as it reports itself: its row's heartbeat is renewed every few
    seconds, and a stale one (or a pid gone from its host) means its jobs are taken back."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PeriodicRun(Base):
    """Which schedule slot a periodic task last ran for: one run per slot however many consumers."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
