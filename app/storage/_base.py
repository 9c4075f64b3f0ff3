"""The storage face: a narrow Protocol, its error tree and the object-key rules.

StorageError
 ├── StorageNotFound     no object at the key
 └── StorageUnavailable  the store cannot be reached right now (callers may retry)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from app.core.errors import InsufficientStorage
from app.core.incidents import incident

DISK_FULL = incident("storage_disk_full")

_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_KEY_LENGTH = 1024


class StorageError(Exception):
    """A storage operation failed."""


class StorageNotFound(StorageError):
    """No object exists at the key."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or used; the operation may succeed if retried."""


class StorageFull(StorageError, InsufficientStorage):
    """The disk under the store is full: nothing was written (the object, if begun, is dropped).
    Also the domain error, answered 507 `insufficient_storage`; logged once per incident."""

    def __init__(self, reason: str) -> None:
        InsufficientStorage.__init__(self)
        self.reason = reason
        DISK_FULL.happened(reason)


class ObjectWriter(Protocol):
    """Receives an object's bytes chunk by chunk inside `Storage.writer`."""

    async def write(self, data: bytes) -> None: ...


class Storage(Protocol):
    """Where document files live: keys in, bytes out."""

    kind: str

    def writer(self, key: str) -> AbstractAsyncContextManager[ObjectWriter]:
        """Stream an object in; it appears at `key` only if the block exits normally."""

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object in one atomic write."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """Stream an object out in chunks; iteration raises StorageNotFound if it is missing."""

    async def download_to(self, key: str, path: Path) -> None:
        """Stream an object into a local file."""

    async def size(self, key: str) -> int | None:
        """Return the object's size in bytes, or None if it is missing."""

    async def exists(self, key: str) -> bool:
        """Return whether an object exists at the key."""

    async def delete(self, key: str) -> None:
        """Remove an object; a missing key is not an error."""

    async def copy(self, src: str, dst: str) -> None:
        """Copy an object inside the store, without passing its bytes through this process."""

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the store can be reached and used."""


def new_object_key() -> str:
    """Return a fresh server-generated key, fanned out over two directory levels."""
    name = uuid.uuid4().hex
    return f"objects/{name[:2]}/{name[2:4]}/{name}"


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise ValueError."""
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise ValueError(f"object key must be 1-{_MAX_KEY_LENGTH} characters")
    if key.startswith("/") or "\\" in key or ".." in key:
        raise ValueError(f"object key {key!r} must be relative, without '..' or backslashes")
    # A whitelist rather than a blacklist: control characters, '#' (obstore's local staging
    # suffix), '%' and spaces are all refused, so a key means the same thing on every backend.
    if not all(_KEY_SEGMENT.fullmatch(segment) and segment != "." for segment in key.split("/")):
        raise ValueError(f"object key {key!r} may only hold segments of letters, digits, '_', '.', '-'")
    return key
