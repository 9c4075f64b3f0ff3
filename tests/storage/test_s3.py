"""S3 backend specifics, against a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from app.storage import Storage, StorageUnavailable, new_object_key, storage_from_settings
from tests.storage.support import BUCKET, Interruption, interrupted_write, s3_settings

DEAD_ENDPOINT = "http://127.0.0.1:1"


@pytest.mark.parametrize("how", ["raise", "cancel"])
async def test_interrupted_write_aborts_the_multipart_upload(
    s3_storage: Storage, s3_client: Any, s3_prefix: str, how: Interruption
) -> None:
    await interrupted_write(s3_storage, new_object_key(), mib=12, how=how)
    uploads = s3_client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{s3_prefix}/")
    assert uploads.get("Uploads", []) == []
    assert s3_client.list_objects_v2(Bucket=BUCKET, Prefix=f"{s3_prefix}/")["KeyCount"] == 0


async def test_objects_live_under_the_url_prefix(s3_storage: Storage, s3_client: Any, s3_prefix: str) -> None:
    key = new_object_key()
    await s3_storage.put_bytes(key, b"data")
    assert s3_client.get_object(Bucket=BUCKET, Key=f"{s3_prefix}/{key}")["Body"].read() == b"data"


async def test_ping_on_unreachable_endpoint_raises_unavailable_quickly(tmp_path: Path) -> None:
    storage = storage_from_settings(s3_settings(tmp_path, DEAD_ENDPOINT))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await storage.ping()
    assert time.monotonic() - started < 5


async def test_network_failure_surfaces_as_unavailable(tmp_path: Path) -> None:
    storage = storage_from_settings(s3_settings(tmp_path, DEAD_ENDPOINT))
    with pytest.raises(StorageUnavailable):
        await storage.put_bytes(new_object_key(), b"x")
    with pytest.raises(StorageUnavailable):
        await storage.size(new_object_key())
