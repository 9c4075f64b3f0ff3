"""The S3 backend (AWS or any S3-compatible server), via obstore's S3Store."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from obstore.store import S3Store

from app.core.config import Settings
from app.storage._obstore import ObstoreStorage

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Give up on a dead endpoint within seconds; the worker retries StorageUnavailable itself.
_CONNECT_TIMEOUT = timedelta(seconds=5)
# Bounds a whole request including its streamed body, so it must cover the largest upload part
# or download on a slow link.
_REQUEST_TIMEOUT = timedelta(minutes=5)
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}


def bucket_and_prefix(url: str) -> tuple[str, str | None]:
    """Split `s3://bucket/optional/prefix` into its bucket and prefix."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"STORAGE_URL {url!r} must look like s3://bucket/optional/prefix")
    return parts.netloc, parts.path.strip("/") or None


def s3_storage(url: str, settings: Settings) -> ObstoreStorage:
    """Build the S3 backend for an `s3://` STORAGE_URL with the S3_* settings."""
    bucket, prefix = bucket_and_prefix(url)
    config: S3Config = {"region": settings.s3_region}
    if settings.s3_endpoint_url:
        config["endpoint"] = settings.s3_endpoint_url
    # Unset keys fall back to obstore's AWS_* environment lookup (and instance roles).
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        config["secret_access_key"] = settings.s3_secret_access_key
    endpoint = (settings.s3_endpoint_url or "").lower()
    client: ClientConfig = {
        "allow_http": settings.s3_allow_http or endpoint.startswith("http://"),
        "connect_timeout": _CONNECT_TIMEOUT,
        "timeout": _REQUEST_TIMEOUT,
    }
    store = S3Store(bucket, prefix=prefix, config=config, client_options=client, retry_config=_RETRY)
    return ObstoreStorage(store, kind="s3")
