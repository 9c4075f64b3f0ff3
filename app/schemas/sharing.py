from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import InputModel
from app.schemas.ocr import OcrSummary
from app.schemas.types import Email, UtcDatetime

MemberRole = Literal["viewer", "editor"]


class ShareCreate(InputModel):
    email: Email
    role: MemberRole


class ShareUpdate(InputModel):
    role: MemberRole


class MemberRead(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str | None
    role: Literal["owner", "editor", "viewer"]


class LinkCreate(InputModel):
    expires_at: UtcDatetime | None = None
    # Any Unicode; 8 characters at least (a 1-character password fell to its 7th guess).
    password: str | None = Field(default=None, min_length=8, max_length=128)


class LinkRead(BaseModel):
    """A share link as its owner sees it later: never the token."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    has_password: bool
    access_count: int
    last_accessed_at: datetime | None


class LinkCreated(BaseModel):
    """Shown once: the token is not stored and cannot be shown again."""

    id: uuid.UUID
    token: str
    url: str
    expires_at: datetime | None
    has_password: bool


class LinkPassword(InputModel):
    password: str | None = Field(default=None, max_length=128)


class SharedFileRead(BaseModel):
    filename: str
    size: int
    content_type: str


class SharedDocumentRead(BaseModel):
    """What a share link reveals: this document's text and OCR status, nothing else."""

    title: str
    content: str
    updated_at: datetime
    ocr: OcrSummary | None
    file: SharedFileRead | None


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    # 1, or for a refusal how many times it was repeated within its minute by the same client.
    count: int


class OwnAuditEventRead(AuditEventRead):
    """Your own events also show where they came from."""

    ip: str | None
    user_agent: str | None
