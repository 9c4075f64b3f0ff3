"""The HTTP protocol `lekhamudra serve` runs: uvicorn's httptools protocol, each response sent whole.

uvicorn writes a response's head and its body to the socket separately, two sends and two TCP
segments for every response, however small; the client wakes up twice. Here the writes made in
one turn of the event loop are joined and leave as one send at the end of that turn, so a
response's head and body go out together. Bodies from a large write on are sent at once
(joined with whatever was waiting), so nothing large is held back or copied twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Writes are held back only while they add up to less than this; a large one goes out at once.
FLUSH_AT = 64 * 1024


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
    """uvicorn's httptools protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def eof_received(self) -> None:
        # The client has half-closed (sent its request, then shut its side, as `nc -N` does):
        # the transport closes itself once this returns, so what waits for the end of the turn
        # goes now.
        self.transport.flush()  # type: ignore[attr-defined]
        super().eof_received()
