"""The Storage contract, run against every backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.storage import Storage, StorageNotFound, new_object_key
from tests.storage.support import MIB, Interruption, interrupted_write


async def read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def write_chunks(storage: Storage, key: str, chunks: list[bytes]) -> None:
    async with storage.writer(key) as out:
        for chunk in chunks:
            await out.write(chunk)


async def test_chunked_write_reads_back_identical_bytes(storage: Storage) -> None:
    chunks = [os.urandom(size) for size in (1, 4096, 0, 70_000, 3, 65_537)]
    key = new_object_key()
    await write_chunks(storage, key, chunks)
    assert await read_all(storage, key) == b"".join(chunks)


async def test_large_object_round_trips_through_multipart_and_streams_in_chunks(storage: Storage) -> None:
    # 12 MiB spans three 5 MiB parts, so S3 really runs a multipart upload.
    chunks = [os.urandom(MIB) for _ in range(12)]
    key = new_object_key()
    await write_chunks(storage, key, chunks)
    received = [chunk async for chunk in storage.read(key)]
    assert len(received) > 1
    assert b"".join(received) == b"".join(chunks)
    assert await storage.size(key) == 12 * MIB


async def test_object_is_invisible_until_writer_exits(storage: Storage) -> None:
    key = new_object_key()
    async with storage.writer(key) as out:
        for _ in range(6):
            await out.write(os.urandom(MIB))
        assert not await storage.exists(key)
    assert await storage.size(key) == 6 * MIB


@pytest.mark.parametrize("how", ["raise", "cancel"])
async def test_interrupted_write_leaves_nothing_at_key(storage: Storage, how: Interruption) -> None:
    key = new_object_key()
    await interrupted_write(storage, key, mib=7, how=how)
    assert not await storage.exists(key)
    with pytest.raises(StorageNotFound):
        await read_all(storage, key)


async def test_put_bytes_is_visible_with_its_size(storage: Storage) -> None:
    key = new_object_key()
    await storage.put_bytes(key, b"namaste")
    assert await storage.exists(key)
    assert await storage.size(key) == 7
    assert await read_all(storage, key) == b"namaste"


async def test_missing_key_has_no_size(storage: Storage) -> None:
    key = new_object_key()
    assert await storage.size(key) is None
    assert not await storage.exists(key)


async def test_delete_removes_object_and_is_idempotent(storage: Storage) -> None:
    key = new_object_key()
    await storage.put_bytes(key, b"x")
    await storage.delete(key)
    await storage.delete(key)
    assert not await storage.exists(key)


async def test_read_of_missing_key_raises_not_found(storage: Storage) -> None:
    with pytest.raises(StorageNotFound):
        await read_all(storage, new_object_key())


async def test_download_to_writes_exact_bytes(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(6 * MIB + 123)
    key = new_object_key()
    await write_chunks(storage, key, [data[i : i + MIB] for i in range(0, len(data), MIB)])
    target = tmp_path / "page.bin"
    await storage.download_to(key, target)
    assert target.read_bytes() == data


async def test_download_of_missing_key_raises_and_leaves_no_file(storage: Storage, tmp_path: Path) -> None:
    target = tmp_path / "page.bin"
    with pytest.raises(StorageNotFound):
        await storage.download_to(new_object_key(), target)
    assert not target.exists()


async def test_copy_makes_an_independent_duplicate(storage: Storage) -> None:
    src, dst = new_object_key(), new_object_key()
    await storage.put_bytes(src, b"original")
    await storage.copy(src, dst)
    await storage.delete(src)
    assert await read_all(storage, dst) == b"original"


async def test_copy_of_missing_source_raises_not_found(storage: Storage) -> None:
    with pytest.raises(StorageNotFound):
        await storage.copy(new_object_key(), new_object_key())


async def test_ping_succeeds_on_a_working_store(storage: Storage) -> None:
    await storage.ping()
