"""The Storage face over any obstore store: streamed, all-or-nothing writes and mapped errors."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError, GenericError, JoinError

from app.storage._base import (
    ObjectWriter,
    StorageError,
    StorageFull,
    StorageNotFound,
    StorageUnavailable,
    validate_key,
)

if TYPE_CHECKING:
    from obstore import AsyncWritableFile, GetResult
    from obstore.store import ObjectStore

# S3's minimum part size; a writer holds about (concurrency + 1) parts in memory at most.
PART_SIZE = 5 * 1024 * 1024
PART_CONCURRENCY = 4
READ_CHUNK_SIZE = 1024 * 1024
PING_TIMEOUT_SECONDS = 5.0


def _describe(exc: BaseException) -> str:
    # obstore messages run on with a multi-line debug dump; the first line says what happened.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def obstore_errors(key: str) -> Iterator[None]:
    """Re-raise obstore's exceptions as the storage error tree."""
    try:
        yield
    except FileNotFoundError as exc:
        raise StorageNotFound(key) from exc
    except (GenericError, JoinError, TimeoutError, ConnectionError) as exc:
        # GenericError is how obstore reports exhausted retries, timeouts and 5xx replies.
        raise StorageUnavailable(f"{key}: {_describe(exc)}") from exc
    except (BaseError, OSError) as exc:
        if _is_disk_full(exc):
            raise StorageFull(f"{key}: {_describe(exc)}") from exc
        raise StorageError(f"{key}: {_describe(exc)}") from exc


def _is_disk_full(exc: BaseException) -> bool:
    # obstore's local store reports ENOSPC as a plain OSError naming it only in its message.
    return getattr(exc, "errno", None) == errno.ENOSPC or f"(os error {errno.ENOSPC})" in str(exc)


async def _abort(file: AsyncWritableFile, exc: BaseException) -> None:
    """Discard a half-written object (S3: abort the multipart upload; local: drop the staging file)."""
    # obstore's __aexit__ aborts rather than commits when handed an exception; no public abort().
    # An abort failure must not hide the error that caused it.
    with suppress(Exception):
        await file.__aexit__(type(exc), exc, exc.__traceback__)


class _Writer:
    """Feeds one obstore writable file."""

    def __init__(self, file: AsyncWritableFile, key: str) -> None:
        self._file = file
        self._key = key

    async def write(self, data: bytes) -> None:
        with obstore_errors(self._key):
            await self._file.write(data)


class ObstoreStorage:
    """Storage over one obstore store (a local directory, an S3 bucket and prefix, ...)."""

    def __init__(self, store: ObjectStore, *, kind: str) -> None:
        self.kind = kind
        self._store = store

    @asynccontextmanager
    async def writer(self, key: str) -> AsyncIterator[ObjectWriter]:
        validate_key(key)
        file = obstore.open_writer_async(self._store, key, buffer_size=PART_SIZE, max_concurrency=PART_CONCURRENCY)
        try:
            yield _Writer(file, key)
        except BaseException as exc:
            await _abort(file, exc)
            raise
        try:
            with obstore_errors(key):
                await file.close()
        except StorageError as exc:
            await _abort(file, exc)
            raise

    async def put_bytes(self, key: str, data: bytes) -> None:
        validate_key(key)
        with obstore_errors(key):
            await obstore.put_async(self._store, key, data)

    def read(self, key: str) -> AsyncIterator[bytes]:
        validate_key(key)
        return self._chunks(key)

    async def _chunks(self, key: str, result: GetResult | None = None) -> AsyncIterator[bytes]:
        with obstore_errors(key):
            if result is None:
                result = await obstore.get_async(self._store, key)
            async for chunk in result.stream(min_chunk_size=READ_CHUNK_SIZE):
                yield chunk

    async def download_to(self, key: str, path: Path) -> None:
        validate_key(key)
        # Fetch before opening the file so a missing object leaves no empty file behind.
        with obstore_errors(key):
            result = await obstore.get_async(self._store, key)
        file = await asyncio.to_thread(path.open, "wb")
        try:
            try:
                async for chunk in self._chunks(key, result):
                    await asyncio.to_thread(file.write, chunk)
            finally:
                await asyncio.to_thread(file.close)
        except BaseException:
            # A truncated file would pass for a complete download further down the pipeline.
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise

    async def size(self, key: str) -> int | None:
        validate_key(key)
        try:
            with obstore_errors(key):
                meta = await obstore.head_async(self._store, key)
        except StorageNotFound:
            return None
        return meta["size"]

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def delete(self, key: str) -> None:
        validate_key(key)
        with suppress(StorageNotFound), obstore_errors(key):
            await obstore.delete_async(self._store, key)

    async def copy(self, src: str, dst: str) -> None:
        validate_key(src)
        validate_key(dst)
        with obstore_errors(src):
            await obstore.copy_async(self._store, src, dst, overwrite=True)

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await obstore.list_with_delimiter_async(self._store)
        except Exception as exc:
            raise StorageUnavailable(f"{self.kind} storage: {_describe(exc)}") from exc
