"""All models, imported so that `Base.metadata` knows every table (Alembic reads it)."""

from app.models.base import Base
from app.models.document import Document
from app.models.idempotency import IdempotencyKey
from app.models.ocr import DocumentFile, OcrJob, OcrPage, PeriodicRun, Worker
from app.models.session import Session
from app.models.sharing import AuditEvent, DocumentRecent, DocumentShare, DocumentStar, DocumentVersion, ShareLink
from app.models.user import User

__all__ = [
    "AuditEvent",
    "Base",
    "Document",
    "DocumentFile",
    "DocumentRecent",
    "DocumentShare",
    "DocumentStar",
    "DocumentVersion",
    "IdempotencyKey",
    "OcrJob",
    "OcrPage",
    "PeriodicRun",
    "Session",
    "ShareLink",
    "User",
    "Worker",
]
