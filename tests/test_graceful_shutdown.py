"""`lekhamudra serve --graceful-timeout`: a stopping server lets requests in progress finish, but
not for ever; one still running when the grace period ends is cut, and the log says which."""

from __future__ import annotations

import io
import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image

from tests.conftest import PASSWORD, unique_email
from tests.processes import serving, wait_for

UPLOAD = "/api/v1/documents/upload"
BOUNDARY = "held-upload"


def noise_png() -> bytes:
    """A PNG larger than one part of a stored file (5 MiB), so its file is begun on disk."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (1500, 1500), os.urandom(1500 * 1500 * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def hold_an_upload(base_url: str, cookie: str) -> socket.socket:
    """An upload whose body never arrives in full: in progress for as long as the socket is open."""
    parts = urlsplit(base_url)
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + noise_png()
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(
        f"POST {UPLOAD} HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: session_id={cookie}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body) + 1000}\r\n\r\n".encode()
        + body
    )
    return sock


def test_sigterm_cuts_a_request_still_running_after_the_graceful_timeout(tmp_path: Path) -> None:
    with serving(tmp_path, "--graceful-timeout", "1") as (base_url, service):
        signed_up = httpx.post(f"{base_url}/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        assert signed_up.status_code == 201, signed_up.text
        files = tmp_path / "data" / "files"
        sock = hold_an_upload(base_url, signed_up.cookies["session_id"])
        try:
            # In progress: its file is being written.
            wait_for(lambda: any(p.is_file() for p in files.rglob("*")), within=30, what="the upload to begin")
            service.process.send_signal(signal.SIGTERM)  # the top process, as a supervisor stops it
            # Without a bound it would wait for this client for ever; with it, 1 s.
            code = service.process.wait(timeout=60)
        finally:
            sock.close()
        log = service.log()

    assert code in (143, -signal.SIGTERM), log  # uvicorn re-raises the SIGTERM it handled: 143
    assert f"request cut before it finished (server stopping) POST {UPLOAD}" in log
    assert not [p for p in files.rglob("*") if p.is_file()]  # nothing half-written is left
