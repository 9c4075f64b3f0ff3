"""A streaming multipart/form-data reader for uploads.

Starlette's form parser spools the whole body to temporary files, with no size cap, before the
handler runs. This one yields parts as the bytes arrive, so the caller can stream a file straight
to storage and stop at its size limit, keeping memory and temporary disk flat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import BadRequest, Invalid, UnsupportedMedia
from app.services.upload_parts import Field, FileData, FileEnd, FileStart, Part

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELD_BYTES = 4096
MAX_PARTS = 16
# RFC 2046 allows 70 characters; python-multipart refuses more than 256 with an error of its own.
MAX_BOUNDARY_BYTES = 256


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("Form fields must be UTF-8") from None


class _Collector:
    """python-multipart callbacks, turned into a list of parts drained after every chunk."""

    def __init__(self, max_parts: int) -> None:
        self.parts: list[Part] = []
        self.count = 0
        self.max_parts = max_parts
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._is_file = False
        self._name = ""
        self._field = bytearray()

    def on_part_begin(self) -> None:
        self.count += 1
        if self.count > self.max_parts:
            raise Invalid(f"At most {self.max_parts} form parts are accepted")
        self._disposition, self._field, self._is_file = b"", bytearray(), False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_value) > MAX_FIELD_BYTES:
            raise Invalid("Multipart header too long")

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise Invalid('Each form part needs a Content-Disposition "name"')
        self._name = _decode(options[b"name"])
        if b"filename" in options:
            self._is_file = True
            self.parts.append(FileStart(name=self._name, filename=_decode(options[b"filename"])))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.parts.append(FileData(bytes(data[start:end])))
            return
        self._field += data[start:end]
        if len(self._field) > MAX_FIELD_BYTES:
            raise Invalid(f"Form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        self.parts.append(FileEnd() if self._is_file else Field(self._name, _decode(bytes(self._field))))


async def iter_multipart(request: Request, *, max_parts: int = MAX_PARTS) -> AsyncIterator[Part]:
    """Yield the body's parts in order while it streams in; more than `max_parts` is refused."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"multipart/form-data":
        raise UnsupportedMedia("Send the file as multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    if len(boundary) > MAX_BOUNDARY_BYTES:
        raise BadRequest(f"A multipart boundary must be at most {MAX_BOUNDARY_BYTES} bytes")
    collector = _Collector(max_parts)
    parser = MultipartParser(boundary, callbacks=_callbacks(collector))
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            parts, collector.parts = collector.parts, []
            for part in parts:
                yield part
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"Malformed multipart body: {exc}") from None
    for part in collector.parts:
        yield part


def _callbacks(collector: _Collector) -> MultipartCallbacks:
    return {
        "on_part_begin": collector.on_part_begin,
        "on_part_data": collector.on_part_data,
        "on_part_end": collector.on_part_end,
        "on_header_field": collector.on_header_field,
        "on_header_value": collector.on_header_value,
        "on_header_end": collector.on_header_end,
        "on_headers_finished": collector.on_headers_finished,
    }
