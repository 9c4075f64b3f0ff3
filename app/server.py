"""The HTTP protocol `lekhamudra serve` runs: uvicorn's httptools protocol, each response sent
whole, and every request's head bounded.

uvicorn writes a response's head and its body to the socket separately, two sends and two TCP
segments for every response, however small; the client wakes up twice. Here the writes made in
one turn of the event loop are joined and leave as one send at the end of that turn, so a
response's head and body go out together. Bodies from a large write on are sent at once
(joined with whatever was waiting), so nothing large is held back or copied twice.

httptools sets no limit on a request's headers: a `Cookie` of any size was read whole, in CPU and
memory, before the app saw it. Here the request line and headers together may take at most
MAX_REQUEST_HEADER_BYTES; past that the request gets 431 at once and is never parsed further.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings

log = logging.getLogger("lekhamudra.server")
# Writes are held back only while they add up to less than this; a large one goes out at once.
FLUSH_AT = 64 * 1024
# After a 431, what the client is still sending is read and dropped (never parsed or kept) for this
# long before the connection closes: closing on unread data would reset the connection, and the
# client would lose the answer with it (nginx's "lingering close").
LINGER_SECONDS = 2.0
_TOO_LARGE_BODY = json.dumps(
    {"detail": "Request headers too large", "code": "request_header_fields_too_large"}
).encode()
TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"connection: close\r\n\r\n" + _TOO_LARGE_BODY
)


class CoalescingTransport:
    """A transport whose writes in one turn of the event loop reach the socket as one write."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            if len(data) >= FLUSH_AT:
                self._transport.write(data)
                return
            self._pending, self._size = [data], len(data)
            self._loop.call_soon(self.flush)
            return
        self._pending.append(data)
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is waiting (a closed connection drops it, as a socket would)."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        waiting = self._size if self._pending else 0
        return waiting + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CoalescingTransport`, refusing a request
    whose head is over MAX_REQUEST_HEADER_BYTES with 431."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # narrowed as in uvicorn
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]  # duck-typed
        self._max_head = get_settings().max_request_header_bytes
        # The bytes that arrive belong to a request's head from the start and after each request,
        # until httptools has read its headers. (A request that begins inside a read which ended
        # the one before it is counted from the next read on: at most one read, 256 KiB, more.)
        self._in_head = True
        self._head_bytes = 0
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        while data:
            if self._refused:
                return  # dropped: see LINGER_SECONDS
            if not self._in_head or self._head_bytes + len(data) <= self._max_head:
                if self._in_head:
                    self._head_bytes += len(data)
                super().data_received(data)
                return
            # This read crosses the limit: parse up to it; if the head has not ended there, refuse.
            room = self._max_head - self._head_bytes
            fitting, data = data[:room], data[room:]
            self._head_bytes += len(fitting)
            if fitting:
                super().data_received(fitting)
            if self.transport.is_closing():
                return
            if self._in_head and self._head_bytes >= self._max_head:
                self._refuse()
                return

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _refuse(self) -> None:
        log.warning("request refused: its head is over %d bytes (431)", self._max_head)
        self._refused = True
        self.transport.write(TOO_LARGE_RESPONSE)
        self.transport.write_eof()  # the answer, then our end: the client reads it, then closes
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def eof_received(self) -> None:
        # The client has half-closed (sent its request, then shut its side, as `nc -N` does):
        # the transport closes itself once this returns, so what waits for the end of the turn
        # goes now.
        self.transport.flush()  # type: ignore[attr-defined]  # the CoalescingTransport of connection_made
        super().eof_received()
