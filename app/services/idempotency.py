"""Idempotent creates: a create sent with an `Idempotency-Key` (per user, kept `KEEP`) that is
retried with the same key answers as the first did, instead of making a second document.

The key's row is a step of the create's own write (app.services.document_writes.create, keyed),
so it exists exactly when the document does. A retry finds it (`replay`) and gets the first
status with the document as it now is (the first body, unless the document changed since). The
same key with another request is refused (422 `idempotency_key_reused`). A duplicate sent while
the first is still being written waits for it: the second insert of the key waits on the
primary key (PostgreSQL) or for its turn (SQLite), fails, and then answers as a retry.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from app.core.errors import Invalid
from app.crud import idempotency as idempotency_crud
from app.db.session import Database

KEEP = timedelta(hours=24)
_KEY = re.compile(r"[A-Za-z0-9._:+/=-]{1,255}")


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A create's key and the digest of what it asks (`route` and its input)."""

    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The first answer to a key: its status and the document it made."""

    status_code: int
    document_id: uuid.UUID


def checked_key(key: str | None) -> str | None:
    """The header's key as given, or None without one; Invalid for a key that is too long or has
    other characters than letters, digits and `._:+/=-` (checked before a body is read)."""
    if key is not None and not _KEY.fullmatch(key):
        raise Invalid("Idempotency-Key must be 1 to 255 letters, digits or ._:+/=-", code="invalid_idempotency_key")
    return key


def idempotency(key: str | None, *, route: str, request: dict[str, Any]) -> Idempotency | None:
    """`checked_key`, with the digest of `route` and its input `request` (as JSON)."""
    if checked_key(key) is None or key is None:
        return None
    digest = hashlib.sha256(route.encode() + b"\n" + orjson.dumps(request, option=orjson.OPT_SORT_KEYS))
    return Idempotency(key, digest.hexdigest())


async def replay(*, db: Database, user_id: uuid.UUID, asked: Idempotency, now: datetime) -> Replay | None:
    """The first answer to this key of this user, or None if there was none in the last `KEEP`
    (an expired key is deleted here, so the create may write it again). Invalid
    (`idempotency_key_reused`) if the key was used for another request."""
    row = await idempotency_crud.get_key(db=db, user_id=user_id, key=asked.key)
    if row is None:
        return None
    if row["created_at"] <= now - KEEP:
        async with db.unit_of_work() as session:
            await idempotency_crud.delete_keys_made_before(
                session=session, before=now - KEEP + timedelta(microseconds=1), user_id=user_id, key=asked.key
            )
        return None
    if row["request_hash"] != asked.request_hash:
        raise Invalid(
            "This Idempotency-Key was used for another request; use a new key for a new request",
            code="idempotency_key_reused",
        )
    return Replay(row["status_code"], row["document_id"])


async def prune_expired_keys(*, db: Database, now: datetime) -> int:
    """Delete the keys older than `KEEP` (the daily periodic task); how many went."""
    async with db.unit_of_work() as session:
        return await idempotency_crud.delete_keys_made_before(session=session, before=now - KEEP)
