"""`lekhamudra import`: files from disk through the same upload path as the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio

from app.services.upload_parts import Field, FileData, FileEnd, FileStart, Part

CHUNK_BYTES = 1024 * 1024


def walk_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and files under folders named (sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(part.startswith(".") for part in child.relative_to(path).parts):
                    yield child
        elif path.is_file():
            yield path


async def file_parts(path: Path, *, languages: str | None) -> AsyncIterator[Part]:
    """A file on disk as the parts of a multipart upload."""
    if languages:
        yield Field("languages", languages)
    yield FileStart(name="file", filename=path.name)
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(CHUNK_BYTES):
            yield FileData(chunk)
    yield FileEnd()
