from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import InputModel
from app.schemas.ocr import FileRead, OcrSummary
from app.schemas.types import MAX_INT32, Content, ExpectedVersion, Title

Role = Literal["owner", "editor", "viewer"]
DocumentSort = Literal["updated", "-updated", "created", "-created", "title", "-title"]


class DocumentCreate(InputModel):
    title: Title
    content: Content = ""


class DocumentUpdate(InputModel):
    """PATCH: only the fields given change. `version`, when given, must be the current one."""

    title: Title | None = None
    content: Content | None = None
    version: ExpectedVersion | None = None


class DocumentReplace(InputModel):
    """PUT: the whole editable state."""

    title: Title
    content: Content = ""
    version: ExpectedVersion | None = None


class DocumentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    owner_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None = None
    updated_by: uuid.UUID | None = None
    trashed_at: datetime | None = None
    role: Role = "owner"
    starred: bool = False


class DocumentRead(DocumentSummary):
    content: str
    file: FileRead | None = None
    ocr: OcrSummary | None = None


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    title: str
    author_id: uuid.UUID | None
    created_at: datetime


class VersionRead(VersionSummary):
    content: str


class VersionRestore(InputModel):
    """Restore an old version as a new one; `version` names the current version you saw."""

    version: ExpectedVersion | None = None


class DocumentListQuery(BaseModel):
    """GET /documents' query: one model, validated in one step (FastAPI parses each separate
    query parameter in a step of its own)."""

    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=MAX_INT32)
    scope: Literal["all", "owned", "shared"] = "all"
    sort: DocumentSort = "-updated"
    starred: bool = False
    trashed: bool = False
