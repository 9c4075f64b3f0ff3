"""A TCP proxy on loopback for fault injection: put it in front of PostgreSQL or Redis, then pause
it (a hung server: sockets stay open, nothing moves), close every connection (a restart, a network
cut), or take it down (connections refused) and up again on the same port.

It runs its own event loop in a thread, so a synchronous test, an async one and a benchmark drive
it alike. Used by the fault tests (tests/) and bench.faults_db; it imports nothing of the app.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
_CHUNK = 64 * 1024


class Proxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` until told otherwise."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def in_front_of(cls, url: str) -> Proxy:
        """A proxy to the host and port a `scheme://…host:port/…` URL names (started)."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or {"redis": 6379}.get(parts.scheme, 5432)).start()

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> Proxy:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(client_writer)
            client_writer.close()
            return
        self._writers.add(server_writer)
        pipes = [
            asyncio.ensure_future(self._pipe(client_reader, server_writer)),
            asyncio.ensure_future(self._pipe(server_reader, client_writer)),
        ]
        for task in pipes:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for writer in (client_writer, server_writer):
            self._writers.discard(writer)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # paused: hold what arrived, send nothing
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            return

    def pause(self) -> None:
        """Stop forwarding in both directions; sockets stay open and new ones are accepted (a hung server)."""
        self._loop.call_soon_threadsafe(lambda: self._flowing and self._flowing.clear())

    def resume(self) -> None:
        """Forward again, what was held first."""
        self._loop.call_soon_threadsafe(lambda: self._flowing and self._flowing.set())

    def close_connections(self) -> None:
        """Close every connection through the proxy at once (a server restart, a cut cable)."""
        self._call(self._close_connections())

    async def _close_connections(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # a reset, as a dead peer's kernel sends
        self._writers.clear()

    def down(self) -> None:
        """Close every connection and refuse new ones (the server is gone)."""
        self._call(self._down())

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._close_connections()

    def up(self) -> None:
        """Accept connections again on the same port, forwarding."""
        self.resume()
        self._call(self._up())

    async def _up(self) -> None:
        if self._server is None:
            await self._listen()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.resume()
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
