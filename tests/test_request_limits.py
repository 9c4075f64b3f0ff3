"""Bounded HTTP input: a request's head has a size limit (431 past it, however much more the client
sends), a multipart boundary too (400), and a client that leaves in the middle of an upload is a
client abort, not a server error, with nothing left behind. The head and the abort are tried
through a real `lekhamudra serve` and raw sockets."""

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

from tests.conftest import PASSWORD
from tests.processes import Service, serving, wait_for
from tests.test_uploads import UPLOAD, assert_nothing_left, big_png_prefix, png_bytes

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


# --- a client that leaves mid-upload -----------------------------------------------------------


def test_a_client_that_leaves_mid_upload_is_a_client_abort_that_leaves_nothing(
    server: tuple[str, Service], tmp_path: Path
) -> None:
    url, service = server
    with httpx.Client(base_url=url, timeout=30) as browser:
        signup = browser.post("/api/v1/auth/signup", json={"email": "leaver@example.com", "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        boundary = "LeavesEarly"
        part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        head = (
            "POST /api/v1/documents/upload HTTP/1.1\r\nHost: x\r\n"
            f"Cookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {16 * MIB}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as sock:
            # Less than half of what it announced, more than the storage writer's 5 MiB part.
            sock.sendall(head + part + big_png_prefix(7 * MIB))
            files = tmp_path / "data" / "files"
            # Stored while it arrives: wait until the object is being written, then leave.
            wait_for(lambda: files.exists() and any(p.is_file() for p in files.rglob("*")), within=30, what="a write")

        line = wait_for(
            lambda: next((ln for ln in service.log().splitlines() if "POST /api/v1/documents/upload" in ln), None),
            within=30,
            what=lambda: f"the upload's request line in:\n{service.log()}",
        )
        metrics = browser.get("/metrics").text
        documents = browser.get("/api/v1/documents").json()

    assert " 499 " in line
    assert "Traceback" not in service.log() and "unhandled error" not in service.log()
    assert 'route="/api/v1/documents/upload",status="499"' in metrics
    assert not re.search(r'route="/api/v1/documents/upload",status="5\d\d"', metrics)
    assert documents["total"] == 0
    wait_for(lambda: not any(p.is_file() for p in files.rglob("*")), within=10, what="the partial object to go")


async def test_a_json_body_cut_short_by_a_client_that_leaves_is_a_499_too(
    app: FastAPI, client: httpx.AsyncClient, alice: dict
) -> None:
    """FastAPI reads a JSON body itself and calls its disconnect a 400 "error parsing the body"."""
    created = await client.post("/api/v1/documents", json={"title": "Kept"})
    path = f"/api/v1/documents/{created.json()['id']}"
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()
    messages = [{"type": "http.request", "body": b'{"title": "Cha', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"40")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"cookie", cookie)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)

    assert sent == []  # nobody to answer
    metrics = (await client.get("/metrics")).text
    assert 'method="PATCH",route="/api/v1/documents/{document_id}",status="499"' in metrics
    assert (await client.get(path)).json()["title"] == "Kept"
