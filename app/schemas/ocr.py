from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import InputModel

OcrStatus = Literal["queued", "processing", "done", "failed"]


class FileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    filename: str
    size: int
    content_type: str
    sha256: str


class DocumentFileRead(FileRead):
    """One file of a document, at its place; `page_count` once OCR has counted its pages."""

    position: int
    page_count: int | None
    created_at: datetime


class OcrSummary(BaseModel):
    """Progress a frontend can draw as "page 7 of 40"."""

    model_config = ConfigDict(from_attributes=True)

    status: OcrStatus
    languages: str
    pages_total: int | None
    pages_done: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class OcrPageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    text: str
    confidence: float = Field(ge=0, le=100)
    source: Literal["ocr", "text_layer"]


class OcrRead(OcrSummary):
    pages: list[OcrPageRead]


class OcrRerun(InputModel):
    languages: str | None = Field(default=None, max_length=64)
