"""A full disk, for real: DATA_DIR on a small tmpfs (root only), the SQLite database and the
local files on it. Writes answer 507 `insufficient_storage` and leave nothing half-written;
/health tells an operator the disk is low before that."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from PIL import Image

from app.core.config import Settings
from app.db.migrate import upgrade_to_head
from main import create_app
from tests.conftest import PASSWORD, make_settings, unique_email

UPLOAD = "/api/v1/documents/upload"
DOCUMENTS = "/api/v1/documents"
TMPFS_MB = 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A TMPFS_MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for a full disk needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def disk_settings(small_disk: Path) -> Settings:
    """DATA_DIR on the small disk, a migrated SQLite database in it."""
    url = f"sqlite:///{small_disk / 'lekhamudra.db'}"
    settings = make_settings(url, small_disk, disk_free_warning_mb=TMPFS_MB // 2)
    upgrade_to_head(settings)
    return settings


@pytest.fixture
async def app_on_small_disk(disk_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(disk_settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def owner_client(app_on_small_disk: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_on_small_disk)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        assert response.status_code == 201, response.text
        yield client


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about side * side * 3 bytes."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def fill(disk: Path, *, leave: int) -> None:
    """Fill the disk but for about `leave` bytes."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave))


def stored_files(disk: Path) -> list[Path]:
    files = disk / "files"
    return [path for path in files.rglob("*") if path.is_file()] if files.exists() else []


async def test_an_upload_larger_than_the_free_space_is_507_and_leaves_nothing(
    owner_client: httpx.AsyncClient, small_disk: Path
) -> None:
    scan = noise_png(2300)  # about 16 MB: more than the whole disk
    assert len(scan) > TMPFS_MB * 1024 * 1024

    response = await owner_client.post(UPLOAD, files={"file": ("scan.png", scan)})

    assert response.status_code == 507, response.text
    assert response.json() == {
        "detail": "The server is out of disk space; nothing was saved",
        "code": "insufficient_storage",
    }
    assert stored_files(small_disk) == []
    listed = await owner_client.get(DOCUMENTS)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_a_large_edit_on_a_full_disk_is_507_and_the_document_is_unchanged(
    owner_client: httpx.AsyncClient, small_disk: Path
) -> None:
    created = await owner_client.post(DOCUMENTS, json={"title": "kept", "content": "the first text"})
    assert created.status_code == 201
    document = f"{DOCUMENTS}/{created.json()['id']}"
    fill(small_disk, leave=256 * 1024)

    edited = await owner_client.patch(document, json={"content": "नेपाली " * 200_000})

    assert edited.status_code == 507, edited.text
    assert edited.json()["code"] == "insufficient_storage"
    (small_disk / "filler").unlink()
    now = (await owner_client.get(document)).json()
    assert (now["title"], now["content"], now["version"]) == ("kept", "the first text", 1)


async def test_health_tells_an_operator_the_disk_is_low(
    owner_client: httpx.AsyncClient, small_disk: Path, logged: list[str]
) -> None:
    assert (await owner_client.get("/health")).json()["components"]["disk"]["status"] == "ok"
    fill(small_disk, leave=1024 * 1024)

    answers = [(await owner_client.get("/health")).json() for _ in range(3)]

    disk = answers[0]["components"]["disk"]
    assert disk["status"] == "low" and disk["free_mb"] < disk["warning_mb"] == TMPFS_MB // 2
    assert answers[0]["status"] == "ok"  # reads and small writes still work: a warning, not an outage
    assert len([line for line in logged if line.startswith("incident.start disk_space_low")]) == 1
