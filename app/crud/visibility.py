"""The one visibility rule: every document query filters through `document_visible_to`.

Until sharing lands, a user sees exactly the documents they own.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement

from app.models import Document


def document_visible_to(user_id: uuid.UUID) -> ColumnElement[bool]:
    return Document.owner_id == user_id
