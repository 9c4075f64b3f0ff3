"""Bounded HTTP input: a request's head has a size limit (431 past it, however much more the client
sends), and a multipart boundary too (400). The head is tried through a real `lekhamudra serve`
and raw sockets."""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi import FastAPI

from tests.processes import Service, serving
from tests.test_uploads import UPLOAD, assert_nothing_left, png_bytes

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Service]]:
    """`lekhamudra serve` with its defaults (a 64 KiB request head), logging each request."""
    with serving(tmp_path, LOG_LEVEL="INFO") as served:
        yield served


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _exchange(port: int, request: bytes) -> bytes:
    """Send `request` whole, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _get_ping(cookie_bytes: int, *, close: bool = True) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"GET /ping HTTP/1.1\r\nHost: x\r\n" + connection + b"Cookie: a=" + b"b" * cookie_bytes + b"\r\n\r\n"


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_a_request_head_under_the_limit_is_served_and_one_over_it_gets_431(server: tuple[str, Service]) -> None:
    port = _port(server[0])

    served = _exchange(port, _get_ping(60 * KIB))
    refused = _exchange(port, _get_ping(65 * KIB))

    assert (_status(served), served.endswith(b'{"status":"ok"}')) == (200, True)
    head, _, body = refused.partition(b"\r\n\r\n")
    assert _status(refused) == 431
    assert b"content-type: application/json" in head.lower()
    assert body == b'{"detail": "Request headers too large", "code": "request_header_fields_too_large"}'


def test_a_url_over_the_limit_gets_431(server: tuple[str, Service]) -> None:
    response = _exchange(_port(server[0]), b"GET /ping?q=" + b"x" * 70 * KIB + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert _status(response) == 431


def test_the_limit_is_per_request_on_a_kept_alive_connection(server: tuple[str, Service]) -> None:
    """Two requests of 40 KiB of headers each on one connection: 80 KiB in all, each under 64."""
    response = _exchange(_port(server[0]), _get_ping(40 * KIB, close=False) + _get_ping(40 * KIB))

    assert [int(status) for status in re.findall(rb"HTTP/1.1 (\d{3})", response)] == [200, 200]


def _server_process(service: Service) -> psutil.Process:
    return next(p for p in service.descendants() if "serve" in " ".join(p.cmdline()) and "uv" not in p.name())


def test_a_100_mib_cookie_is_refused_at_the_limit_without_being_read(server: tuple[str, Service]) -> None:
    """Before: the server read all of it (15 s of CPU, +150 MiB of memory) and answered 200."""
    url, service = server
    process = _server_process(service)
    assert httpx.get(f"{url}/ping").status_code == 200
    rss_before = process.memory_info().rss
    chunk, sent, received = b"b" * 64 * KIB, 0, b""
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nCookie: a=")
        started = time.monotonic()
        try:
            while sent < 100 * MIB and b"\r\n\r\n" not in received:
                sock.sendall(chunk)
                sent += len(chunk)
                while select.select([sock], [], [], 0)[0]:
                    data = sock.recv(65536)
                    if not data:
                        break
                    received += data
        except OSError:  # the server gave up on what it would not read: the answer is in `received`
            pass
        elapsed = time.monotonic() - started

    assert received.startswith(b"HTTP/1.1 431 "), f"after {sent / MIB:.1f} MiB sent: {received[:60]!r}"
    assert sent < 8 * MIB, f"the client could send {sent / MIB:.1f} MiB before the answer"
    assert elapsed < 10
    assert process.memory_info().rss - rss_before < 32 * MIB
    assert httpx.get(f"{url}/ping").status_code == 200  # and the server serves on


def test_the_head_limit_is_a_setting(tmp_path: Path) -> None:
    with serving(tmp_path, MAX_REQUEST_HEADER_BYTES="16384", LOG_LEVEL="WARNING") as (url, _service):
        assert _status(_exchange(_port(url), _get_ping(15 * KIB))) == 200
        assert _status(_exchange(_port(url), _get_ping(17 * KIB))) == 431


@pytest.mark.parametrize("path", [UPLOAD, "/api/v1/auth/signup", "/api/v1/auth/login"])
async def test_a_multipart_boundary_over_256_bytes_is_400_and_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: dict, path: str
) -> None:
    """python-multipart refuses such a boundary with an error of its own, which was a 500."""
    boundary = "b" * 257
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
    body += png_bytes() + f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        path, content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_request"
    await assert_nothing_left(app)
