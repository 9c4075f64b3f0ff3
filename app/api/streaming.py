"""Streaming a stored file as a download."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from app.core.errors import NotFound
from app.core.filenames import content_disposition
from app.models import DocumentFile
from app.storage import Storage, StorageNotFound


async def file_download(storage: Storage, file: DocumentFile) -> StreamingResponse:
    """The object as an attachment, streamed; a missing object is a 404, not a response cut short."""
    chunks = storage.read(file.storage_key)
    try:
        first = await anext(chunks)  # read ahead one chunk so a missing object fails before headers go out
    except StorageNotFound:
        raise NotFound("The file is missing from storage", code="file_missing") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type=file.content_type,
        headers={"content-disposition": content_disposition(file.filename), "content-length": str(file.size)},
    )
