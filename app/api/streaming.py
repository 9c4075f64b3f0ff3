"""Streaming a stored file as a download, or a page's picture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from app.core.errors import NotFound
from app.core.filenames import content_disposition
from app.models import DocumentFile
from app.ocr import SUPPORTED_MEDIA_TYPES
from app.storage import Storage, StorageNotFound

# OpenAPI for a download: the file is sent as the type detected at upload, one of these.
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The original file, as an attachment",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in sorted(SUPPORTED_MEDIA_TYPES)
        },
    }
}


async def file_download(storage: Storage, file: DocumentFile) -> StreamingResponse:
    """The object as an attachment, streamed; a missing object is a 404, not a response cut short."""
    headers = {"content-disposition": content_disposition(file.filename), "content-length": str(file.size)}
    return await object_response(storage, file.storage_key, media_type=file.content_type, headers=headers)


async def object_response(storage: Storage, key: str, *, media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """A stored object, streamed; a missing object is a 404 (`file_missing`) before any header goes out."""
    chunks = storage.read(key)
    try:
        first = await anext(chunks)  # read ahead one chunk so a missing object fails before headers go out
    except StorageNotFound:
        raise NotFound("The file is missing from storage", code="file_missing") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type=media_type, headers=headers)
