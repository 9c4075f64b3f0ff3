"""Object storage for document files: one narrow face, two obstore-backed backends.

`storage_from_settings(settings)` picks the backend from STORAGE_URL: `file:///abs/path`
(default: DATA_DIR/files) or `s3://bucket/optional/prefix`. Keys come from `new_object_key()`,
never from a client's file name.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.core.config import Settings
from app.storage._base import (
    ObjectWriter,
    Storage,
    StorageError,
    StorageFull,
    StorageNotFound,
    StorageUnavailable,
    new_object_key,
    validate_key,
)
from app.storage._local import local_storage
from app.storage._s3 import s3_storage

__all__ = [
    "ObjectWriter",
    "Storage",
    "StorageError",
    "StorageFull",
    "StorageNotFound",
    "StorageUnavailable",
    "new_object_key",
    "storage_from_settings",
    "validate_key",
]


def storage_from_settings(settings: Settings) -> Storage:
    """Build the backend STORAGE_URL names."""
    url = settings.resolved_storage_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return local_storage(url)
    if scheme == "s3":
        return s3_storage(url, settings)
    raise ValueError(f"STORAGE_URL {url!r} must be file:///path or s3://bucket/prefix")
