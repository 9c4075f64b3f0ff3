"""Local backend specifics: no stray files, a vanished root, flat memory."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import psutil
import pytest

from app.storage import Storage, StorageUnavailable, new_object_key
from tests.storage.support import MIB, Interruption, interrupted_write


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.parametrize("how", ["raise", "cancel"])
async def test_interrupted_write_leaves_no_staging_files(
    local_storage: Storage, tmp_path: Path, how: Interruption
) -> None:
    await interrupted_write(local_storage, new_object_key(), mib=7, how=how)
    assert files_under(tmp_path / "files") == []


async def test_object_is_a_file_under_the_root(local_storage: Storage, tmp_path: Path) -> None:
    key = new_object_key()
    await local_storage.put_bytes(key, b"data")
    assert files_under(tmp_path / "files") == [tmp_path / "files" / key]


async def test_ping_fails_when_root_is_missing(local_storage: Storage, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "files")
    with pytest.raises(StorageUnavailable):
        await local_storage.ping()


async def test_streaming_64_mib_keeps_memory_flat(local_storage: Storage) -> None:
    expected = hashlib.sha256()
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.002):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        key = new_object_key()
        async with local_storage.writer(key) as out:
            for _ in range(64):
                # A fresh buffer each time: obstore may hold a reference instead of copying.
                chunk = os.urandom(MIB)
                await out.write(chunk)
                expected.update(chunk)
        actual = hashlib.sha256()
        async for piece in local_storage.read(key):
            actual.update(piece)
    finally:
        done.set()
        sampler.join()
    assert actual.hexdigest() == expected.hexdigest()
    assert peak - baseline < 32 * MIB, f"RSS grew by {(peak - baseline) / MIB:.1f} MiB"
