"""Worker faults: SIGKILL the embedded OCR worker N times while a 40-page batch is read.

Run: uv run python -m bench.faults_worker [--kills 3] [--documents 10] [--pages-each 4] [--postgres]
Writes the "Worker faults" section of docs/benchmarks.md.

A real `lekhamudra serve` (embedded worker; SQLite under a temporary DATA_DIR, or a fresh
PostgreSQL database with --postgres). The documents (multi-page TIFFs) are uploaded one every
`--upload-every` seconds while the worker is killed (SIGKILL to the child whose pid /health
names) each time the pages saved have grown by the batch's share; a reader polls /health and each
document's OCR status throughout. Reported: jobs done exactly once (one `ocr.done` each), pages
saved more than once (a page row rewritten after a kill), acknowledged uploads lost (a 202 whose
document is missing or not done: must be 0), 5xx answers, and per kill the seconds until a new
worker beats and until the next page is saved.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import signal
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app.core.config import Settings
from app.db.session import Database
from app.models import OcrJob, OcrPage
from bench._docs import add_write_option, publish
from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, render_page
from tests.processes import Service, clean_env, free_port, postgres_database, tiff_bytes, wait_until_serving

log = logging.getLogger("bench.faults_worker")
SECTION = "## Worker faults"  # then the database: "## Worker faults (SQLite)"
UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"
PASSWORD = "correct horse battery staple 42"  # noqa: S105 (a throwaway account in a throwaway database)


@dataclass
class Kill:
    at: float
    pid: int
    new_worker_after: float | None = None
    next_page_after: float | None = None


@dataclass
class Run:
    accepted: list[str] = field(default_factory=list)
    refused_5xx: int = 0
    answers: int = 0
    kills: list[Kill] = field(default_factory=list)
    saved: dict[tuple[str, int], datetime] = field(default_factory=dict)
    rewritten: set[tuple[str, int]] = field(default_factory=set)


def _settings(env: dict[str, str]) -> Settings:
    return Settings(_env_file=None, env="test", data_dir=Path(env["DATA_DIR"]), database_url=env.get("DATABASE_URL"))  # type: ignore[call-arg]


async def _pages(env: dict[str, str]) -> list[tuple[str, int, datetime]]:
    db = Database(_settings(env).sqlalchemy_url, pool_size=1, driver_pool_size=1, busy_timeout_ms=10_000)
    try:
        async with db.unit_of_work(write=False) as session:
            rows = await session.execute(select(OcrPage.document_id, OcrPage.number, OcrPage.created_at))
            return [(str(d), n, c) for d, n, c in rows]
    finally:
        await db.dispose()


async def _jobs(env: dict[str, str]) -> dict[str, OcrJob]:
    db = Database(_settings(env).sqlalchemy_url, pool_size=1, driver_pool_size=1, busy_timeout_ms=10_000)
    try:
        async with db.unit_of_work(write=False) as session:
            return {str(job.document_id): job for job in (await session.scalars(select(OcrJob))).all()}
    finally:
        await db.dispose()


def snapshot(run: Run, env: dict[str, str]) -> int:
    """Record each saved page's time; a page saved again later shows a new one. Pages saved."""
    rows = asyncio.run(_pages(env))
    for document_id, number, created_at in rows:
        key = (document_id, number)
        if key in run.saved and run.saved[key] != created_at:
            run.rewritten.add(key)
        run.saved.setdefault(key, created_at)
    return len(rows)


def worker(base_url: str) -> dict[str, Any]:
    return httpx.get(f"{base_url}/health", timeout=10).json()["components"]["worker"]


def beating_since(base_url: str, since: datetime) -> bool:
    state = worker(base_url)
    return bool(state["alive"] and datetime.fromisoformat(state["last_heartbeat_at"]) > since)


def wait(condition: Any, within: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    raise SystemExit(f"bench.faults_worker: timed out waiting for {what}")


def read_continuously(run: Run, base_url: str, cookies: httpx.Cookies, stop: threading.Event) -> None:
    """An operator and a user watching: /health and every accepted document's OCR status."""
    with httpx.Client(base_url=base_url, cookies=cookies, timeout=30) as client:
        while not stop.is_set():
            for path in ["/health", *(f"{DOCS}/{d}/ocr" for d in list(run.accepted))]:
                try:
                    status = client.get(path).status_code
                except httpx.TransportError:
                    status = 599
                run.answers += 1
                run.refused_5xx += status >= 500
            stop.wait(0.5)


def bench(args: argparse.Namespace) -> tuple[Run, dict[str, OcrJob], str, float]:
    run = Run()
    pages = [render_page([f"Page {n}", *(NEPALI_NOTICE + ENGLISH_LETTER)[n % 5 : n % 5 + 3]])[0] for n in range(6)]
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-faults-")))
        data_dir = root / "data"
        settings = {"DATA_DIR": str(data_dir), "EMBEDDED_WORKER": "true", "ENV": "dev"}
        if args.postgres:
            settings["DATABASE_URL"] = stack.enter_context(postgres_database(data_dir))
        port = free_port()
        service = Service(
            ["serve", "--port", str(port)], env=clean_env(**settings), cwd=root, log_path=root / "serve.log"
        )
        stack.callback(service.stop, signal.SIGINT, timeout=20)
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(service, base_url)
        wait(lambda: worker(base_url)["alive"], 60, "the worker's first heartbeat")
        client = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
        signup = client.post(
            "/api/v1/auth/signup", json={"email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
        )
        assert signup.status_code == 201, signup.text

        stop = threading.Event()
        reader = threading.Thread(target=read_continuously, args=(run, base_url, client.cookies, stop), daemon=True)
        reader.start()

        def upload_all() -> None:
            for number in range(args.documents):
                content = tiff_bytes([pages[(number + i) % len(pages)] for i in range(args.pages_each)])
                response = client.post(
                    UPLOAD, files={"file": (f"batch-{number}.tiff", content)}, data={"languages": "nep+eng"}
                )
                if response.status_code == 202:
                    run.accepted.append(response.json()["id"])
                else:
                    run.refused_5xx += response.status_code >= 500
                time.sleep(args.upload_every)

        started = time.monotonic()
        uploader = threading.Thread(target=upload_all, daemon=True)
        uploader.start()
        total = args.documents * args.pages_each
        env = service.env
        for number in range(1, args.kills + 1):
            target = total * number // (args.kills + 1)
            wait(lambda t=target: snapshot(run, env) >= t, 900, f"{target} pages saved")
            pid = worker(base_url)["embedded"]["pid"]
            os.kill(pid, signal.SIGKILL)
            kill, killed_at = Kill(at=time.monotonic(), pid=pid), datetime.now(UTC)
            run.kills.append(kill)
            saved_at_kill = snapshot(run, env)
            log.info("kill %d: worker pid %d at %d pages saved", number, pid, saved_at_kill)
            wait(lambda k=killed_at: beating_since(base_url, k), 120, "a heartbeat from a new worker")
            kill.new_worker_after = time.monotonic() - kill.at
            wait(lambda s=saved_at_kill: snapshot(run, env) > s, 600, "the next page after a kill")
            kill.next_page_after = time.monotonic() - kill.at
        uploader.join()

        def all_finished() -> bool:
            snapshot(run, env)
            jobs = asyncio.run(_jobs(env))
            return all(jobs.get(d) is not None and jobs[d].status in ("done", "failed") for d in run.accepted)

        wait(all_finished, 1200, "every job to finish", interval=1.0)
        elapsed = time.monotonic() - started
        stop.set()
        reader.join()
        jobs = asyncio.run(_jobs(env))
        if args.log:
            args.log.write_text(service.log())
        return run, jobs, service.log(), elapsed


def table(args: argparse.Namespace, run: Run, jobs: dict[str, OcrJob], server_log: str, elapsed: float) -> str:
    done_once = sum(
        1
        for d in run.accepted
        if jobs.get(d) is not None and jobs[d].status == "done" and server_log.count(f"ocr.done document_id={d}") == 1
    )
    lost = sum(1 for d in run.accepted if jobs.get(d) is None or jobs[d].status != "done")
    attempts = sorted({jobs[d].attempts for d in run.accepted if d in jobs})
    database = "PostgreSQL" if args.postgres else "SQLite"
    load = os.getloadavg()[0]
    lines = [
        f"{SECTION} ({database})",
        "",
        f"`uv run python -m bench.faults_worker --kills {args.kills}{' --postgres' if args.postgres else ''}`: "
        f"`lekhamudra serve` (embedded worker, {database}), {args.documents} documents x {args.pages_each} pages "
        f"= {args.documents * args.pages_each} pages uploaded one every {args.upload_every:g} s; the worker child "
        "SIGKILLed each time the saved pages grew by the batch's share; /health and every document's OCR "
        f"status polled throughout. {platform.machine()}, {os.cpu_count()} cores, shared (load average "
        f"{load:.1f} at the end of the run).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| jobs done exactly once | {done_once} of {len(run.accepted)} |",
        f"| pages saved more than once | {len(run.rewritten)} |",
        f"| acknowledged uploads lost or not done | {lost} |",
        f"| 5xx answered | {run.refused_5xx} of {run.answers} |",
        f"| attempts per job (set of values) | {', '.join(map(str, attempts))} |",
        f"| whole batch, s | {elapsed:.0f} |",
    ]
    for number, kill in enumerate(run.kills, 1):
        lines.append(
            f"| kill {number}: s to a new beating worker / to the next page saved | "
            f"{kill.new_worker_after:.1f} / {kill.next_page_after:.1f} |"
        )
    lines += [
        "",
        "A new beating worker: the restart backoff (1 s, then 2 s, 4 s while kills come within a minute "
        "of each other) and a new Python process importing the app before its first heartbeat, which "
        "takes the dead worker's job back. The next page saved adds a new engine loading its models and "
        "reading one page (the page in flight at the kill is read again: it was never saved). Before "
        "#21 the job waited out OCR_LEASE_SECONDS (300 s) for the periodic reaper, and the worker was "
        "not restarted at all.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the worker during the batch")
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--pages-each", type=int, default=4)
    parser.add_argument("--upload-every", type=float, default=2.0, help="seconds between uploads")
    parser.add_argument(
        "--postgres", action="store_true", help="a fresh PostgreSQL database (TEST_DATABASE_URL's server)"
    )
    parser.add_argument("--log", type=Path, help="also keep the server's log in this file")
    add_write_option(parser)
    args = parser.parse_args()
    run, jobs, server_log, elapsed = bench(args)
    database = "PostgreSQL" if args.postgres else "SQLite"
    publish(f"{SECTION} ({database})", table(args, run, jobs, server_log, elapsed), write=args.write)


if __name__ == "__main__":
    main()
