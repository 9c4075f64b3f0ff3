"""Helpers shared by the storage tests: settings builders and an interrupted upload."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest

from app.core.config import Settings
from app.storage import Storage

MIB = 1024 * 1024
BUCKET = "lekhamudra-test"
Interruption = Literal["raise", "cancel"]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, env="test", data_dir=data_dir, **overrides)  # type: ignore[call-arg]


def s3_settings(data_dir: Path, endpoint: str, prefix: str | None = None) -> Settings:
    return make_settings(
        data_dir,
        storage_url=f"s3://{BUCKET}/{prefix or uuid.uuid4().hex}",
        s3_endpoint_url=endpoint,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )


def boto3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def interrupted_write(storage: Storage, key: str, *, mib: int, how: Interruption) -> None:
    """Write `mib` MiB to `key`, then fail the block by raising or by cancelling its task."""
    in_flight = asyncio.Event()

    async def upload() -> None:
        async with storage.writer(key) as out:
            for _ in range(mib):
                await out.write(os.urandom(MIB))
            if how == "raise":
                raise RuntimeError("client went away")
            in_flight.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(upload())
    if how == "cancel":
        await in_flight.wait()
        task.cancel()
    with pytest.raises(asyncio.CancelledError if how == "cancel" else RuntimeError):
        await task
