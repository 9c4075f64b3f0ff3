"""Fixtures: each contract test runs on the local backend and on a real S3-compatible server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from app.storage import Storage, storage_from_settings
from tests.storage.support import boto3_client, make_settings, s3_settings


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 client to inspect the server behind the backend's back."""
    return boto3_client(s3_endpoint)


@pytest.fixture
def local_storage(tmp_path: Path) -> Storage:
    return storage_from_settings(make_settings(tmp_path))


@pytest.fixture
def s3_prefix() -> str:
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def s3_storage(tmp_path: Path, s3_endpoint: str, s3_prefix: str) -> Storage:
    """S3 storage under a fresh prefix, so tests never see each other's objects."""
    return storage_from_settings(s3_settings(tmp_path, s3_endpoint, s3_prefix))


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn: the contract must hold for both."""
    return request.getfixturevalue(f"{request.param}_storage")
