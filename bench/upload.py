"""Upload memory: peak server RSS and temporary disk while a 200 MiB file is uploaded.

Run: uv run python -m bench.upload [--mib 200]
Writes the "Upload memory" section of docs/benchmarks.md.

The real server (`uv run lekhamudra serve`) runs with no embedded worker, so no OCR starts, and
with TMPDIR pointed at an empty directory of its own: any spooling shows up there, including
unlinked temporary files, which are found through the server's open file descriptors. For
contrast, the same body goes to a throwaway FastAPI app that reads it with Starlette's
`request.form()`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import httpx
import psutil

from app.core.config import Settings
from bench._docs import add_write_option, publish, require_tool

log = logging.getLogger("bench.upload")
MIB = 1024 * 1024
PDF_HEAD = b"%PDF-1.7\n"
SAMPLE_SECONDS = 0.02
UPLOAD_PATH = "/api/v1/documents/upload"
PROJECT = Path(__file__).resolve().parent.parent
SECTION = "## Upload memory"
# Every variable Settings reads, so the caller's shell cannot change the server under test.
SETTINGS_VARS = {name.upper() for name in Settings.model_fields}

CONTRAST_APP = '''"""Throwaway contrast for bench.upload: the upload read with Starlette's form parser."""
import hashlib

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    async with request.form() as form:
        file = form["file"].file

        def digest() -> tuple[int, str]:
            file.seek(0)
            hasher, size = hashlib.sha256(), 0
            while chunk := file.read(1024 * 1024):
                hasher.update(chunk)
                size += len(chunk)
            return size, hasher.hexdigest()

        size, sha256 = await run_in_threadpool(digest)
    return {"file": {"size": size, "sha256": sha256}}
'''


class UploadBody:
    """A multipart/form-data body with one `file` part, made 1 MiB at a time and hashed as it goes."""

    def __init__(self, mib: int) -> None:
        self.mib = mib
        self.boundary = f"bench-{uuid.uuid4().hex}"
        self.preamble = (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        self.epilogue = f"\r\n--{self.boundary}--\r\n".encode()
        self.file_size = len(PDF_HEAD) + mib * MIB
        self.length = len(self.preamble) + self.file_size + len(self.epilogue)
        self.sha256: str | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def pieces(self) -> Iterator[bytes]:
        hasher = hashlib.sha256(PDF_HEAD)
        yield self.preamble + PDF_HEAD
        for _ in range(self.mib):
            chunk = os.urandom(MIB)
            hasher.update(chunk)
            yield chunk
        self.sha256 = hasher.hexdigest()
        yield self.epilogue


@dataclass
class Exchange:
    """What the client saw: when the response came, and how much it had sent by then."""

    status: int = 0
    body: dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    sent_at_response: int = 0  # finished sends; one more piece (<= 1 MiB) may have been under way
    in_flight_at_response: int = 0
    seconds_to_response: float = 0.0
    sent_total: int = 0
    send_error: str | None = None
    server_closed_at: int | None = None  # bytes sent when the server closed the connection


def post(port: int, path: str, headers: dict[str, str], body: UploadBody, *, chunked: bool) -> Exchange:
    """POST over a plain socket, reading the response on another thread while the body is sent.

    A blocking client such as httpx only reads the response after the whole body went out, so it
    cannot tell when an early 413 arrived; this one records it and keeps sending, as a naive client would.
    """
    result = Exchange()
    in_flight = 0
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    closing = threading.Event()
    responded = threading.Event()
    start = time.perf_counter()

    def read() -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                received = sock.recv(65536)
                if not received:
                    return
                if not data:
                    result.sent_at_response, result.in_flight_at_response = result.sent_total, in_flight
                    result.seconds_to_response = time.perf_counter() - start
                data += received
            head, _, rest = data.partition(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            result.status = int(status_line.split()[1])
            result.headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
            while len(rest) < int(result.headers.get("content-length", "0")):
                rest += sock.recv(65536)
            result.body = json.loads(rest) if rest else {}
            responded.set()
            while sock.recv(65536):
                pass
            if not closing.is_set():
                result.server_closed_at = result.sent_total
        except OSError:
            if not closing.is_set():
                result.server_closed_at = result.sent_total
        finally:
            responded.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(body.length)}
    request_head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {body.content_type}"]
    request_head += [f"{k}: {v}" for k, v in (headers | framing).items()]
    try:
        sock.sendall(("\r\n".join(request_head) + "\r\n\r\n").encode())
        for piece in body.pieces():
            in_flight = len(piece)
            sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            result.sent_total, in_flight = result.sent_total + len(piece), 0
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError as exc:
        result.send_error = type(exc).__name__
    responded.wait(timeout=300)
    closing.set()
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    reader.join(timeout=10)
    return result


def tree_size(root: Path, *, skip: Path | None = None) -> int:
    """Bytes of the regular files under root (a file vanishing mid-walk counts as gone)."""
    total = 0
    for directory, dirs, files in os.walk(root):
        if skip is not None:
            dirs[:] = [d for d in dirs if Path(directory, d) != skip]
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


class Sampler:
    """Every ~20 ms: RSS of a process and its children, and the bytes in three places."""

    def __init__(self, pid: int, tmpdir: Path, data_dir: Path) -> None:
        self.process = psutil.Process(pid)
        self.tmpdir, self.data_dir, self.files_dir = tmpdir, data_dir, data_dir / "files"
        self.baseline = self.sample()
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[psutil.Process]:
        with suppress(psutil.NoSuchProcess):
            return [self.process, *self.process.children(recursive=True)]
        return []

    def _tmp_bytes(self, processes: list[psutil.Process]) -> int:
        # An unlinked temporary file (Python's TemporaryFile) is in no directory, only behind an fd.
        sizes: dict[tuple[int, int], int] = {}
        for directory, _, files in os.walk(self.tmpdir):
            for name in files:
                with suppress(OSError):
                    st = os.lstat(os.path.join(directory, name))
                    sizes[st.st_dev, st.st_ino] = st.st_size
        prefix = str(self.tmpdir) + os.sep
        for process in processes:
            fd_dir = f"/proc/{process.pid}/fd"
            with suppress(OSError):
                for fd in os.listdir(fd_dir):
                    with suppress(OSError):
                        if os.readlink(f"{fd_dir}/{fd}").startswith(prefix):
                            st = os.stat(f"{fd_dir}/{fd}")
                            sizes[st.st_dev, st.st_ino] = st.st_size
        return sum(sizes.values())

    def sample(self) -> dict[str, int]:
        processes = self._tree()
        rss = 0
        for process in processes:
            with suppress(psutil.NoSuchProcess):
                rss += process.memory_info().rss
        return {
            "rss": rss,
            "tmp": self._tmp_bytes(processes),
            "data": tree_size(self.data_dir, skip=self.files_dir),
            "files": tree_size(self.files_dir),
        }

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            for key, value in self.sample().items():
                self.peak[key] = max(self.peak[key], value)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        for key, value in self.sample().items():
            self.peak[key] = max(self.peak[key], value)


@dataclass
class Server:
    """A running server and the directories it was given."""

    port: int
    pid: int  # the process listening on the port (not the `uv run` launcher)
    tmpdir: Path
    data_dir: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listener(root: psutil.Process, port: int) -> int | None:
    for process in [root, *root.children(recursive=True)]:
        with suppress(psutil.Error):
            if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in process.net_connections("tcp")):
                return process.pid
    return None


@contextmanager
def run_server(command: list[str], workdir: Path, name: str, **settings: str) -> Iterator[Server]:
    """Start a server with an empty TMPDIR and DATA_DIR of its own; stop its process group after."""
    tmpdir, data_dir = workdir / f"{name}-tmp", workdir / f"{name}-data"
    tmpdir.mkdir()
    data_dir.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS and not k.startswith("LEKHAMUDRA_")}
    env |= {"DATA_DIR": str(data_dir), "TMPDIR": str(tmpdir), "LOG_LEVEL": "WARNING", **settings}
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603
            [*command, "--port", str(port)],
            cwd=PROJECT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-2000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        pid = _listener(psutil.Process(process.pid), port)
        if pid is None:
            raise RuntimeError(f"{name}: no process listens on port {port}")
        yield Server(port, pid, tmpdir, data_dir)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def lekhamudra(workdir: Path, name: str, max_upload_mb: int) -> AbstractContextManager[Server]:
    command = ["uv", "run", "lekhamudra", "serve"]
    return run_server(command, workdir, name, MAX_UPLOAD_MB=str(max_upload_mb), EMBEDDED_WORKER="false")


def sign_up(server: Server) -> dict[str, str]:
    """A fresh account; returns the Cookie header that signs requests in."""
    response = httpx.post(
        f"http://127.0.0.1:{server.port}/api/v1/auth/signup",
        json={"email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "upload-bench-" + uuid.uuid4().hex},
        timeout=30,
    )
    response.raise_for_status()
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in response.cookies.items())}


def blocking_client(server: Server, headers: dict[str, str], body: UploadBody) -> tuple[int, float, int]:
    """Status, seconds and bytes sent when httpx (which sends the whole body before reading) gets its answer."""
    sent = 0

    def counted() -> Iterator[bytes]:
        nonlocal sent
        for piece in body.pieces():
            sent += len(piece)
            yield piece

    start = time.perf_counter()
    response = httpx.post(
        f"http://127.0.0.1:{server.port}{UPLOAD_PATH}",
        content=counted(),
        headers=headers | {"Content-Type": body.content_type},
        timeout=300,
    )
    return response.status_code, time.perf_counter() - start, sent


@dataclass
class Run:
    """One upload, measured."""

    name: str
    exchange: Exchange
    body: UploadBody
    baseline: dict[str, int]
    peak: dict[str, int]
    stored_size: int | None = None
    verified: str = "n/a"
    leftover_files: int = 0
    blocking: tuple[int, float, int] | None = None  # what httpx saw for the same request

    @property
    def throughput(self) -> str:
        seconds = self.exchange.seconds_to_response
        return f"{self.body.file_size / MIB / seconds:.0f}" if self.exchange.status < 300 else "-"


def measure(
    name: str, server: Server, path: str, headers: dict[str, str], body: UploadBody, *, chunked: bool, expect: int
) -> Run:
    files_before = {p for p in (server.data_dir / "files").rglob("*") if p.is_file()}
    with Sampler(server.pid, server.tmpdir, server.data_dir) as sampler:
        exchange = post(server.port, path, headers, body, chunked=chunked)
        time.sleep(0.2)  # catch anything written or freed just after the response
    run = Run(name, exchange, body, sampler.baseline, sampler.peak)
    new_files = [p for p in (server.data_dir / "files").rglob("*") if p.is_file() and p not in files_before]
    run.leftover_files = len(new_files)
    if exchange.status == 202 and len(new_files) == 1:
        run.stored_size = new_files[0].stat().st_size
        with new_files[0].open("rb") as stored:
            on_disk = hashlib.file_digest(stored, "sha256").hexdigest()
        reported = exchange.body.get("file", {})
        ok = on_disk == body.sha256 == reported.get("sha256") and run.stored_size == body.file_size
        run.verified = "yes" if ok and reported.get("size") == body.file_size else "NO"
    elif exchange.status == 200:  # the contrast app hashes what its form parser spooled
        reported = exchange.body.get("file", {})
        ok = reported.get("sha256") == body.sha256 and reported.get("size") == body.file_size
        run.verified = "yes" if ok else "NO"
    if exchange.status != expect or run.verified == "NO":
        log.warning("%s: status %s, verified %s, body %s", name, exchange.status, run.verified, exchange.body)
    log.info("%s: %s, peak RSS %s MiB", name, exchange.status, mib(sampler.peak["rss"]))
    return run


def mib(value: int) -> str:
    return f"{value / MIB:.1f}"


def machine(workdir: Path) -> str:
    """One line on the hardware, the temp filesystem and the HTTP stack."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(iter(re.findall(r"model name\s*:\s*(.+)", cpuinfo)), platform.processor() or "unknown CPU")
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    mount = max((m for m in mounts if str(workdir).startswith(m[1])), key=lambda m: len(m[1]))
    packages = ", ".join(f"{p} {version(p)}" for p in ("uvicorn", "httptools", "starlette", "python-multipart"))
    return (
        f"nproc {len(os.sched_getaffinity(0))}, {model.strip()}, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"temp dirs on {mount[2]}; Python {platform.python_version()}, {packages}, obstore {version('obstore')}"
    )


def revision() -> str:
    """The commit measured, and whether the working tree differed from it."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True, check=False)  # noqa: S603, S607

    commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    if commit.returncode != 0:
        return "not a git checkout"
    return f"commit {commit.stdout.strip()}" + (" plus uncommitted changes" if dirty.stdout.strip() else "")


def report(runs: list[Run], command: str, workdir: Path, mib_size: int, load: tuple[float, float]) -> str:
    """Return the markdown for the section."""
    lines = [
        SECTION,
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d')}): one {mib_size} MiB file (`%PDF-1.7` then random bytes, "
        "made 1 MiB at a time so the client never holds it) posted as multipart/form-data to "
        "`POST /api/v1/documents/upload` on `uv run lekhamudra serve` (SQLite, local storage, "
        "`EMBEDDED_WORKER=false` so no OCR runs, each server with an empty `TMPDIR` and `DATA_DIR` of its own).",
        "",
        f"Machine: {machine(workdir)}. Code: {revision()}. Load average {load[0]:.2f} before, {load[1]:.2f} "
        "after; one run each, so read the times as rough.",
        "",
        "| run | status | s | MiB/s | RSS before | RSS peak | peak Δ | TMPDIR peak | DATA_DIR other, peak Δ "
        "| DATA_DIR/files peak | stored object | size + SHA-256 match |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        stored = mib(r.stored_size) if r.stored_size is not None else f"none ({r.leftover_files} left)"
        stored = "n/a" if r.exchange.status == 200 else stored  # the contrast app stores nothing
        e, before, peak = r.exchange, r.baseline, r.peak
        lines.append(
            f"| {r.name} | {e.status} | {e.seconds_to_response:.2f} | {r.throughput} | {mib(before['rss'])} "
            f"| {mib(peak['rss'])} | {mib(peak['rss'] - before['rss'])} | {mib(peak['tmp'])} "
            f"| {mib(peak['data'] - before['data'])} | {mib(peak['files'] - before['files'])} "
            f"| {stored} | {r.verified} |"
        )
    lines += [
        "",
        "Sizes in MiB. RSS is the serving process and its children (not the `uv run` launcher), sampled "
        f'every {SAMPLE_SECONDS * 1000:.0f} ms; "before" is after sign-up and a 1 MiB warm-up upload. '
        "TMPDIR counts files in the directory and unlinked temporary files still open in the server. "
        "DATA_DIR other is everything under DATA_DIR but `files/` (SQLite, its journal, the queue). "
        "DATA_DIR/files peak includes obstore's `<key>#<n>` staging file, renamed into place at the end. "
        "s is from connecting to the first byte of the response; MiB/s is the file's size over it.",
        "",
    ]
    for r in runs:
        e = r.exchange
        if e.status == 413:
            closed = (
                f"the server closed the connection after {mib(e.server_closed_at)} MiB"
                if e.server_closed_at is not None
                else "the server kept the connection open and read (and dropped) the rest of the body"
            )
            sent = mib(e.sent_at_response)
            if e.in_flight_at_response:
                sent += f" to {mib(e.sent_at_response + e.in_flight_at_response)}"
            connection = e.headers.get("connection")
            closed += f" (the 413 had {f'`Connection: {connection}`' if connection else 'no `Connection` header'})"
            lines.append(
                f"- {r.name}: the 413 (`{e.body.get('code')}`) arrived {e.seconds_to_response:.2f} s in, when the "
                f"client had sent {sent} MiB of {mib(r.body.length)}; the client kept sending "
                f"as a naive one would: {closed}; it sent {mib(e.sent_total)} MiB in all"
                + (f" ({e.send_error})" if e.send_error else "")
                + f". Objects left in storage: {r.leftover_files}."
            )
        if r.blocking is not None:
            status, seconds, sent = r.blocking
            lines.append(
                f"  - The same request from httpx {version('httpx')}, which reads the response only after sending "
                f"the whole body: {status} after {seconds:.2f} s, having sent {mib(sent)} MiB."
            )
    lines += [
        "- (c) is a contrast, not Lekhamudra code: a throwaway FastAPI app (run with uvicorn, same TMPDIR trick) "
        "whose handler calls Starlette's `await request.form()` and hashes the spooled file. The form parser "
        "writes the whole file to a temporary file before the handler runs, with no size limit; "
        "`app/api/multipart.py` streams it to storage instead.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure each variant against its own server and write the table."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the uploaded file")
    parser.add_argument("--limit-mib", type=int, default=50, help="MAX_UPLOAD_MB of the server that must refuse it")
    add_write_option(parser)
    args = parser.parse_args()
    require_tool("bench.upload", "uv", "pip install uv")

    runs: list[Run] = []
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="lekhamudra-bench-upload-"))
    try:
        with lekhamudra(workdir, "streaming", args.mib + 50) as server:
            cookie = sign_up(server)
            post(server.port, UPLOAD_PATH, cookie, UploadBody(1), chunked=False)  # warm-up: lazy imports, pools
            for name, chunked in (("(a) Lekhamudra, Content-Length", False), ("(b) Lekhamudra, chunked", True)):
                runs.append(
                    measure(name, server, UPLOAD_PATH, cookie, UploadBody(args.mib), chunked=chunked, expect=202)
                )

        contrast_dir = workdir / "contrast-app"
        contrast_dir.mkdir()
        (contrast_dir / "contrast_app.py").write_text(CONTRAST_APP)
        uvicorn = [sys.executable, "-m", "uvicorn", "contrast_app:app", "--app-dir", str(contrast_dir)]
        with run_server([*uvicorn, "--log-level", "warning"], workdir, "contrast") as server:
            post(server.port, "/upload", {}, UploadBody(1), chunked=False)
            name = "(c) contrast: FastAPI + `request.form()`, Content-Length"
            runs.append(measure(name, server, "/upload", {}, UploadBody(args.mib), chunked=False, expect=200))

        with lekhamudra(workdir, "limited", args.limit_mib) as server:
            cookie = sign_up(server)
            post(server.port, UPLOAD_PATH, cookie, UploadBody(1), chunked=False)
            name = f"(d) Lekhamudra, MAX_UPLOAD_MB={args.limit_mib}, chunked"
            runs.append(measure(name, server, UPLOAD_PATH, cookie, UploadBody(args.mib), chunked=True, expect=413))
            runs[-1].blocking = blocking_client(server, cookie, UploadBody(args.mib))
            name = f"(d') Lekhamudra, MAX_UPLOAD_MB={args.limit_mib}, Content-Length"
            runs.append(measure(name, server, UPLOAD_PATH, cookie, UploadBody(args.mib), chunked=False, expect=413))

        command = " ".join(["uv run python -m bench.upload", *sys.argv[1:]])
        markdown = report(runs, command, workdir, args.mib, (load_before, os.getloadavg()[0]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    publish(SECTION, markdown, write=args.write)


if __name__ == "__main__":
    main()
