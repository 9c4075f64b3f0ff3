"""The HTTP protocol `lekhamudra serve` runs (app.server): a response's head and body leave in one
write, and every response still arrives whole, in order, on kept-alive and closed connections."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest

from app.server import FLUSH_AT, CoalescingTransport
from tests.ocr.pages import NEPALI_NOTICE, render_page
from tests.processes import Service, clean_env, free_port, png_bytes, wait_until_serving


class RecordingTransport:
    """Records what reaches the socket."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.events.append(("write", bytes(data)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.events.append(("abort", b""))
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def test_head_and_body_written_in_one_turn_leave_as_one_write() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"ok")
    await _next_turn()
    assert raw.events == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]


async def test_writes_in_later_turns_follow_in_order() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    for chunk in (b"a", b"b"):
        transport.write(chunk)
        await _next_turn()
    transport.writelines([b"c", b"d"])
    await _next_turn()
    assert raw.events == [("write", b"a"), ("write", b"b"), ("write", b"cd")]


async def test_a_large_body_is_sent_at_once_after_what_was_waiting() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    body = b"x" * FLUSH_AT
    transport.write(b"head")
    transport.write(body)
    assert raw.events == [("write", b"head" + body)]
    transport.write(body)
    assert raw.events[-1] == ("write", body)
    await _next_turn()
    assert len(raw.events) == 2


async def test_close_sends_what_is_waiting_first() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last response")
    transport.close()
    await _next_turn()
    assert raw.events == [("write", b"last response"), ("close", b"")]


async def test_abort_drops_what_is_waiting_and_a_closed_connection_takes_no_write() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await _next_turn()
    transport.write(b"after the end")
    await _next_turn()
    assert raw.events == [("abort", b"")]
    assert transport.get_extra_info("peername") == "extra peername"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`lekhamudra serve` on SQLite, as a user starts it."""
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDED_WORKER="false", LOG_LEVEL="WARNING")
    service = Service(["serve", "--port", str(port)], env=env, cwd=tmp_path, log_path=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(service, url)
        yield url
    finally:
        service.stop(signal.SIGINT, timeout=15)


def _responses(port: int, requests: bytes, count: int, *, methods: list[bytes]) -> list[tuple[int, bytes]]:
    """Send raw (pipelined) requests on one connection; the first `count` responses, parsed."""
    parser = h11.Connection(h11.CLIENT)
    answers: list[tuple[int, bytes]] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(requests)
        for method in methods[:count]:
            # h11 needs to know each response's request (HEAD has no body).
            parser.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
            parser.send(h11.EndOfMessage())
            status, body = 0, b""
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    parser.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            answers.append((status, body))
            if parser.our_state is h11.MUST_CLOSE or parser.their_state is h11.MUST_CLOSE:
                break
            parser.start_next_cycle()
    return answers


def test_pipelined_requests_on_one_connection_get_whole_responses_in_order(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    requests = (
        b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answers = _responses(port, requests, 4, methods=[b"GET", b"HEAD", b"GET", b"GET"])
    assert answers == [
        (200, b'{"status":"ok"}'),
        (405, b""),  # GET-only: the head alone, which must not eat the next response
        (404, answers[2][1]),
        (200, b'{"authenticated":false,"user":null}'),
    ]
    assert b'"code":"not_found"' in answers[2][1]


def _sign_up(client: httpx.Client, email: str) -> None:
    signup = client.post("/api/v1/auth/signup", json={"email": email, "password": "correct horse battery"})
    assert signup.status_code == 201, signup.text


def test_a_client_that_half_closes_after_its_request_still_gets_the_response(server: str) -> None:
    """`nc -N`, `socat`: the request, then shutdown(SHUT_WR), then read to the end."""
    port = int(server.rsplit(":", 1)[1])
    for path in ("/ping", "/api/v1/auth/me", "/api/v1/nothing-here"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), (path, received)
        assert int(re.search(rb"content-length: (\d+)", head).group(1)) == len(body) > 0  # type: ignore[union-attr]


def test_large_bodies_go_both_ways_whole_on_a_kept_alive_connection(server: str) -> None:
    content = ("नेपाली पाठ र English text. " * 30_000)[:600_000]
    with httpx.Client(base_url=server, timeout=30) as client:
        signup = client.post(
            "/api/v1/auth/signup", json={"email": "big@example.com", "password": "correct horse battery"}
        )
        assert signup.status_code == 201, signup.text
        created = client.post("/api/v1/documents", json={"title": "ठूलो", "content": content})
        assert created.status_code == 201, created.text
        for _ in range(3):
            read = client.get(f"/api/v1/documents/{created.json()['id']}")
            assert read.status_code == 200
            assert read.json()["content"] == content
            assert client.get("/ping").json() == {"status": "ok"}


def test_a_file_streams_back_whole(server: str) -> None:
    page, _truth = render_page(NEPALI_NOTICE[:2])
    scan = png_bytes(page)
    with httpx.Client(base_url=server, timeout=30) as client:
        signup = client.post(
            "/api/v1/auth/signup", json={"email": "scan@example.com", "password": "correct horse battery"}
        )
        assert signup.status_code == 201, signup.text
        uploaded = client.post(
            "/api/v1/documents/upload", files={"file": ("scan.png", scan, "image/png")}, data={"languages": "eng"}
        )
        assert uploaded.status_code == 202, uploaded.text
        for _ in range(2):
            downloaded = client.get(f"/api/v1/documents/{uploaded.json()['id']}/file")
            assert downloaded.status_code == 200
            assert downloaded.content == scan
