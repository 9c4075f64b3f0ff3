from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import InputModel
from app.schemas.ocr import FileRead, OcrSummary
from app.schemas.types import MAX_INT32, Content, Title


class DocumentCreate(InputModel):
    title: Title
    content: Content = ""


class DocumentUpdate(InputModel):
    """PATCH: only the fields given change. `version`, when given, must be the current one."""

    title: Title | None = None
    content: Content | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_INT32)


class DocumentReplace(InputModel):
    """PUT: the whole editable state."""

    title: Title
    content: Content = ""
    version: int | None = Field(default=None, ge=1, le=MAX_INT32)


class DocumentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    owner_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


class DocumentRead(DocumentSummary):
    content: str
    file: FileRead | None = None
    ocr: OcrSummary | None = None
