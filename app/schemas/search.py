from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from app.schemas.document import Role


class SearchDocument(BaseModel):
    id: uuid.UUID
    title: str
    updated_at: datetime
    role: Role


class SearchItem(BaseModel):
    document: SearchDocument
    snippet: str  # HTML-escaped text; only the <mark> tags around matches are markup
    page: int | None  # the OCR page of the hit; null for a hit in the title or content
    rank: float  # higher is better


class SearchResults(BaseModel):
    items: list[SearchItem]
    total: int
    limit: int
    offset: int
