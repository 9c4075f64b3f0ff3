"""OCR ingestion across real processes: `lekhamudra serve`, `worker` and `import` as subprocesses,
on real PostgreSQL, Redis, S3 (moto) and Tesseract.

These are the issue's promises: one command OCRs a scan; a worker killed mid-job loses nothing;
workers share a Redis queue; an upload queued while no worker runs is done when one starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from app.core.config import Settings
from app.db.session import Database
from app.models import OcrJob, OcrPage
from app.models.base import utcnow
from main import create_app
from tests.conftest import PASSWORD, unique_email
from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, cer, render_page
from tests.processes import (
    Service,
    clean_env,
    eventually,
    free_port,
    idle_redis_consumers,
    png_bytes,
    redis_client,
    run_cli,
    serving,
    tiff_bytes,
    wait_for,
    wait_until_serving,
)
from tests.storage.support import BUCKET, boto3_client

UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"
FINISHED = ("done", "failed")
STATUS_ORDER = ["queued", "processing", "done"]


# --- Services ------------------------------------------------------------------------------------


@dataclass
class Deployment:
    """One installation's configuration, shared by the in-process API and the worker processes."""

    variables: dict[str, str]
    root: Path
    workers: list[Service] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return Settings(_env_file=None, **{name.lower(): value for name, value in self.variables.items()})  # type: ignore[call-arg]

    def assert_no_crash(self) -> None:
        """Fail at once, with the worker's log, when a task died of an unhandled error."""
        for worker in self.workers:
            log = worker.log()
            assert "Unhandled exception in task" not in log, f"{worker.log_path.name}:\n{log}"

    def start_worker(self) -> Service:
        """`lekhamudra worker --workers 1`, in its own process group."""
        log_path = self.root / f"worker-{len(self.workers) + 1}.log"
        env = clean_env(**self.variables)
        worker = Service(["worker", "--workers", "1"], env=env, cwd=self.root, log_path=log_path)
        self.workers.append(worker)
        return worker


Deploy = Callable[..., Deployment]


@pytest.fixture
def deploy(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[Deploy]:
    """PostgreSQL + Redis queue + local files (override with more variables); workers stopped after."""
    deployments: list[Deployment] = []

    def _deploy(**variables: str) -> Deployment:
        deployment = Deployment(
            {
                "ENV": "test",
                "DATABASE_URL": postgres_url,
                "QUEUE_URL": redis_url,
                "DATA_DIR": str(tmp_path / "data"),
                "EMBEDDED_WORKER": "false",
                **variables,
            },
            tmp_path,
        )
        deployments.append(deployment)
        return deployment

    yield _deploy
    for deployment in deployments:
        for worker in deployment.workers:
            worker.stop(signal.SIGINT, timeout=10)


@asynccontextmanager
async def signed_in_api(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The API in this process on the deployment's settings, and a browser signed in to it."""
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        response = await client.post("/api/v1/auth/signup", json={"email": unique_email("proc"), "password": PASSWORD})
        assert response.status_code == 201, response.text
        yield app, client


async def upload(client: httpx.AsyncClient, content: bytes, filename: str, **fields: str) -> str:
    response = await client.post(UPLOAD, files={"file": (filename, content)}, data=fields)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def job_of(app: FastAPI, document_id: str) -> OcrJob:
    async with app.state.db.unit_of_work(write=False) as session:
        job = await session.get(OcrJob, uuid.UUID(document_id))
        assert job is not None
        return job


async def stored_pages(app: FastAPI, document_id: str) -> list[OcrPage]:
    """Every stored page row of the document, duplicates included."""
    async with app.state.db.unit_of_work(write=False) as session:
        stmt = select(OcrPage).where(OcrPage.document_id == uuid.UUID(document_id)).order_by(OcrPage.number)
        return list((await session.scalars(stmt)).all())


async def finished_ocr(
    client: httpx.AsyncClient, document_id: str, *, within: float, deployment: Deployment
) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        deployment.assert_no_crash()
        ocr = (await client.get(f"{DOCS}/{document_id}/ocr")).json()
        return ocr if ocr["status"] in FINISHED else None

    return await eventually(finished, within=within, what=f"OCR of {document_id} to finish")


def embedded_workers_of(data_dir: Path) -> list[psutil.Process]:
    """Running embedded workers started for this DATA_DIR, wherever they were re-parented."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "app.worker.embedded" not in (process.info["cmdline"] or []):
                continue
            if process.environ().get("DATA_DIR") == str(data_dir) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


# --- One command: `lekhamudra serve` with nothing configured -------------------------------------


@dataclass
class Server:
    service: Service
    base_url: str
    data_dir: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`lekhamudra serve` with only DATA_DIR set: SQLite, local files and its own embedded worker."""
    port = free_port()
    data_dir = tmp_path / "data"
    service = Service(
        ["serve", "--port", str(port)],
        env=clean_env(DATA_DIR=str(data_dir)),
        cwd=tmp_path,
        log_path=tmp_path / "server.log",
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(service, base_url)
        yield Server(service, base_url, data_dir)
    finally:
        service.stop(signal.SIGINT, timeout=15)


def test_one_command_default_ocrs_a_nepali_scan(server: Server) -> None:
    page, truth = render_page(NEPALI_NOTICE[:5])
    progress: list[dict[str, Any]] = []

    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        signup = browser.post("/api/v1/auth/signup", json={"email": unique_email("serve"), "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        uploaded = browser.post(UPLOAD, files={"file": ("सूचना.png", png_bytes(page))})
        assert uploaded.status_code == 202, uploaded.text
        document_id = uploaded.json()["id"]

        def finished() -> dict[str, Any] | None:
            ocr = browser.get(f"{DOCS}/{document_id}/ocr").json()
            progress.append(ocr)
            return ocr if ocr["status"] in FINISHED else None

        ocr = wait_for(finished, within=90, what=lambda: "OCR to finish\n" + server.service.log(), interval=0.3)
        document = browser.get(f"{DOCS}/{document_id}").json()

    assert ocr["status"] == "done", ocr["error"]
    assert (ocr["pages_total"], ocr["pages_done"], ocr["error"]) == (1, 1, None)
    assert datetime.fromisoformat(ocr["started_at"]) <= datetime.fromisoformat(ocr["finished_at"])
    [ocr_page] = ocr["pages"]
    assert ocr_page["number"] == 1
    assert ocr_page["source"] == "ocr"
    assert cer(truth, ocr_page["text"]) <= 0.05
    assert document["content"] == ocr_page["text"]
    # What a progress bar drew while polling only ever moved forward.
    seen = [STATUS_ORDER.index(snapshot["status"]) for snapshot in progress]
    assert seen == sorted(seen)
    assert [s["pages_done"] for s in progress] == sorted(s["pages_done"] for s in progress)


def test_stopping_the_server_stops_its_embedded_worker(server: Server) -> None:
    workers = wait_for(lambda: embedded_workers_of(server.data_dir), within=30, what="the embedded worker to start")

    # As a process supervisor does: SIGTERM to the server alone, not to its process group.
    server.service.process.send_signal(signal.SIGTERM)
    server.service.process.wait(timeout=20)

    _, still_running = psutil.wait_procs(workers, timeout=10)
    assert still_running == []
    assert embedded_workers_of(server.data_dir) == []


# --- Workers on a Redis queue and PostgreSQL ----------------------------------------------------


NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def named_pages(count: int) -> list[Image.Image]:
    """Full pages (about 2 s of OCR each), told apart by a 'Reference <name> file' line."""
    body = NEPALI_NOTICE + ENGLISH_LETTER
    return [render_page([f"Reference {name} file", *body])[0] for name in NAMES[:count]]


def marker(number: int) -> str:
    """Page `number`'s reference line as OCR gives it, whitespace removed."""
    return f"Reference{NAMES[number - 1]}file"


def squeezed(text: str) -> str:
    return "".join(text.split())


async def test_killed_worker_loses_nothing(deploy: Deploy) -> None:
    count = 5
    deployment = deploy(OCR_LEASE_SECONDS="5")
    async with signed_in_api(deployment.settings) as (app, client):
        document_id = await upload(client, tiff_bytes(named_pages(count)), "bundle.tiff")
        first = deployment.start_worker()

        async def partly_done() -> OcrJob | None:
            deployment.assert_no_crash()
            job = await job_of(app, document_id)
            return job if job.status == "processing" and job.pages_done >= 1 else None

        await eventually(partly_done, within=60, what=lambda: "the first page\n" + first.log(), interval=0.1)
        first.kill()
        killed_at = utcnow()
        orphaned = await job_of(app, document_id)
        assert orphaned.status == "processing"
        assert 1 <= orphaned.pages_done < count

        async def lease_ran_out() -> bool:
            job = await job_of(app, document_id)
            return job.lease_expires_at is not None and job.lease_expires_at < utcnow()

        await eventually(lease_ran_out, within=10, what="the dead worker's lease to run out")
        second = deployment.start_worker()
        ocr = await finished_ocr(client, document_id, within=90, deployment=deployment)
        job = await job_of(app, document_id)
        rows = await stored_pages(app, document_id)
        document = (await client.get(f"{DOCS}/{document_id}")).json()

    assert ocr["status"] == "done", f"{ocr['error']}\n{second.log()}"
    assert (ocr["pages_total"], ocr["pages_done"]) == (count, count)
    assert [row.number for row in rows] == list(range(1, count + 1))
    assert (job.attempts, job.claims) == (1, 2)  # the killed run was not an attempt of the file
    for page in ocr["pages"]:
        assert marker(page["number"]) in squeezed(page["text"])
        assert squeezed(document["content"]).count(marker(page["number"])) == 1
    assert document["content"] == "\n\n".join(page["text"] for page in ocr["pages"])
    # Pages read before the kill were kept, not read again.
    assert all(row.created_at < killed_at for row in rows[: orphaned.pages_done])


async def test_two_workers_share_a_redis_queue_on_postgres_and_s3(deploy: Deploy, s3_endpoint: str) -> None:
    prefix = f"proc-{uuid.uuid4().hex[:8]}"
    deployment = deploy(
        STORAGE_URL=f"s3://{BUCKET}/{prefix}",
        S3_ENDPOINT_URL=s3_endpoint,
        S3_ACCESS_KEY_ID="testing",
        S3_SECRET_ACCESS_KEY="testing",
        S3_ALLOW_HTTP="true",
    )
    workers = [deployment.start_worker(), deployment.start_worker()]
    with redis_client() as redis:
        wait_for(
            lambda: idle_redis_consumers(redis) >= 2,
            within=60,
            what=lambda: "both workers to wait for tasks\n" + "\n".join(w.log() for w in workers),
        )
    scans = [
        render_page(paragraphs)
        for paragraphs in (NEPALI_NOTICE[0:3], NEPALI_NOTICE[3:5], ENGLISH_LETTER[0:3], ENGLISH_LETTER[3:4])
    ]

    async with signed_in_api(deployment.settings) as (app, client):
        originals = {}
        for number, (page, truth) in enumerate(scans, 1):
            content = png_bytes(page)
            originals[await upload(client, content, f"scan-{number}.png")] = (content, truth)
        results = {}
        for document_id in originals:
            results[document_id] = await finished_ocr(client, document_id, within=90, deployment=deployment)
        attempts = {document_id: (await job_of(app, document_id)).attempts for document_id in originals}
        rows = {document_id: [p.number for p in await stored_pages(app, document_id)] for document_id in originals}
        downloads = {document_id: (await client.get(f"{DOCS}/{document_id}/file")).content for document_id in originals}

    for document_id, (content, truth) in originals.items():
        ocr = results[document_id]
        assert ocr["status"] == "done", ocr["error"]
        assert attempts[document_id] == 1
        assert rows[document_id] == [1]
        assert cer(truth, ocr["pages"][0]["text"]) <= 0.05
        assert downloads[document_id] == content
    stored = boto3_client(s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    assert stored["KeyCount"] == len(originals)
    # Each document was read by exactly one of the two workers, and both took a share.
    done_by = [{d for d in originals if f"ocr.done document_id={d}" in worker.log()} for worker in workers]
    assert done_by[0] | done_by[1] == set(originals)
    assert done_by[0].isdisjoint(done_by[1])
    assert done_by[0] and done_by[1]


async def test_a_job_queued_while_no_worker_runs_is_done_when_one_starts(deploy: Deploy) -> None:
    deployment = deploy()
    page, truth = render_page(ENGLISH_LETTER[:3])
    async with signed_in_api(deployment.settings) as (app, client):
        document_id = await upload(client, png_bytes(page), "letter.png", languages="eng")
        assert (await job_of(app, document_id)).status == "queued"
        assert await app.state.queue.pending() == 1

        deployment.start_worker()
        ocr = await finished_ocr(client, document_id, within=60, deployment=deployment)
        job = await job_of(app, document_id)

    assert ocr["status"] == "done", ocr["error"]
    assert job.attempts == 1
    assert cer(truth, ocr["pages"][0]["text"]) <= 0.05


async def test_a_job_whose_queue_message_was_lost_is_done_when_a_worker_starts(deploy: Deploy) -> None:
    deployment = deploy(OCR_LEASE_SECONDS="5")
    page, _ = render_page(ENGLISH_LETTER[:3])
    async with signed_in_api(deployment.settings) as (app, client):
        document_id = await upload(client, png_bytes(page), "letter.png", languages="eng")
        with redis_client() as redis:
            redis.flushdb()  # Redis restarted without persistence: the task message is gone
        assert await app.state.queue.pending() == 0

        async def queued_past_lease() -> bool:
            job = await job_of(app, document_id)
            return (utcnow() - job.queued_at).total_seconds() > 5

        await eventually(queued_past_lease, within=10, what="the job to count as queued too long")
        deployment.start_worker()
        ocr = await finished_ocr(client, document_id, within=60, deployment=deployment)

    assert ocr["status"] == "done", ocr["error"]
    assert [p["number"] for p in ocr["pages"]] == [1]


# --- `lekhamudra import --wait` on SQLite --------------------------------------------------------

OWNER = "importer@example.com"


@dataclass
class ImportRun:
    result: subprocess.CompletedProcess[str]
    data_dir: Path
    truths: dict[str, str]


def _summary_row(stdout: str, name: str) -> list[str]:
    """The cells of the summary table's row for one file."""
    [line] = [line for line in stdout.splitlines() if name in line]
    return [cell.strip() for cell in line.split("│") if cell.strip()]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> ImportRun:
    """A folder of two scans and a text file, imported with --wait on a fresh SQLite install."""
    root = tmp_path_factory.mktemp("import")
    data_dir = root / "data"
    # A wide terminal, so rich does not wrap the summary table's cells.
    env = clean_env(DATA_DIR=str(data_dir), ENV="dev", COLUMNS="200")
    for command in (["db", "upgrade"], ["user", "create", "--email", OWNER, "--password", PASSWORD]):
        done = run_cli(*command, env=env, cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    scans = root / "scans"
    scans.mkdir()
    truths = {}
    for name, paragraphs in (("notice.png", NEPALI_NOTICE[:4]), ("letter.png", ENGLISH_LETTER[:3])):
        page, truths[name] = render_page(paragraphs)
        (scans / name).write_bytes(png_bytes(page))
    (scans / "notes.txt").write_text("not a scan")

    result = run_cli("import", "scans", "--owner", OWNER, "--wait", env=env, cwd=root, timeout=150)
    return ImportRun(result, data_dir, truths)


def test_import_cli_imports_a_folder_and_waits_for_ocr(imported: ImportRun) -> None:
    stdout = imported.result.stdout

    assert imported.result.returncode == 1, stdout + imported.result.stderr  # one file was refused
    for name in imported.truths:
        cells = _summary_row(stdout, name)
        assert cells[1:3] == ["1", "done"], stdout
    assert "rejected: Upload a PNG, JPEG, HEIC, TIFF, WebP or PDF file" in _summary_row(stdout, "notes.txt")
    # The worker it started says only what goes wrong: its INFO lines would break up the progress.
    assert " INFO " not in stdout + imported.result.stderr, stdout + imported.result.stderr


def test_imported_scans_become_the_owners_documents_with_their_text(imported: ImportRun) -> None:
    with sqlite3.connect(imported.data_dir / "lekhamudra.db") as db:
        rows = db.execute(
            "SELECT d.title, d.content, u.email, j.status FROM documents d"
            " JOIN users u ON u.id = d.owner_id JOIN ocr_jobs j ON j.document_id = d.id ORDER BY d.title"
        ).fetchall()

    assert [(title, email, status) for title, _, email, status in rows] == [
        ("letter", OWNER, "done"),
        ("notice", OWNER, "done"),
    ]
    for title, content, _, _ in rows:
        assert cer(imported.truths[f"{title}.png"], content) <= 0.05


def test_import_cli_stops_the_worker_it_started(imported: ImportRun) -> None:
    assert embedded_workers_of(imported.data_dir) == []


def test_several_server_workers_share_one_embedded_consumer(tmp_path: Path) -> None:
    """`serve --workers 2`: each server worker starts an embedded worker, the DATA_DIR lock lets
    exactly one of them consume; the other waits to take over, and both stop with the server."""
    port = free_port()
    data_dir = tmp_path / "data"
    service = Service(
        ["serve", "--port", str(port), "--workers", "2"],
        env=clean_env(DATA_DIR=str(data_dir)),
        cwd=tmp_path,
        log_path=tmp_path / "server.log",
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: len(embedded_workers_of(data_dir)) == 2 or None,
            within=60,
            what=lambda: "two embedded workers\n" + service.log(),
        )
        wait_for(lambda: "worker started" in service.log() or None, within=30, what="a consumer to start")
        with httpx.Client(base_url=base_url, timeout=30) as browser:
            assert (
                browser.post(
                    "/api/v1/auth/signup", json={"email": unique_email("workers"), "password": PASSWORD}
                ).status_code
                == 201
            )
            page, _ = render_page(ENGLISH_LETTER[:2])
            document_id = browser.post(UPLOAD, files={"file": ("letter.png", png_bytes(page))}).json()["id"]

            def finished() -> dict[str, Any] | None:
                ocr = browser.get(f"{DOCS}/{document_id}/ocr").json()
                return ocr if ocr["status"] in FINISHED else None

            ocr = wait_for(finished, within=90, what="OCR to finish")
        assert ocr["status"] == "done"
        assert service.log().count("worker started") == 1
    finally:
        service.stop(signal.SIGINT, timeout=20)
    wait_for(lambda: not embedded_workers_of(data_dir) or None, within=30, what="the embedded workers to stop")
    # The waiting one was stopped while it waited for the lock: it says nothing.
    assert "Traceback" not in service.log(), service.log()


# --- The embedded worker, supervised: killed, restarted, its job taken back ---------------------


@asynccontextmanager
async def database_of(service: Service) -> AsyncIterator[Database]:
    """The database a running `lekhamudra serve` uses, opened from this process."""
    env = service.env
    data_dir, database_url = Path(env["DATA_DIR"]), env.get("DATABASE_URL")
    settings = Settings(_env_file=None, env="test", data_dir=data_dir, database_url=database_url)  # type: ignore[call-arg]
    db = Database(settings.sqlalchemy_url, pool_size=1, driver_pool_size=1, busy_timeout_ms=10_000)
    try:
        yield db
    finally:
        await db.dispose()


async def job_in(db: Database, document_id: str) -> OcrJob:
    async with db.unit_of_work(write=False) as session:
        job = await session.get(OcrJob, uuid.UUID(document_id))
        assert job is not None
        return job


async def page_rows_in(db: Database, document_id: str) -> list[OcrPage]:
    async with db.unit_of_work(write=False) as session:
        stmt = select(OcrPage).where(OcrPage.document_id == uuid.UUID(document_id)).order_by(OcrPage.number)
        return list((await session.scalars(stmt)).all())


def worker_health(base_url: str) -> dict[str, Any]:
    """/health's worker component, as an operator (a loopback client) sees it."""
    return httpx.get(f"{base_url}/health", timeout=10).json()["components"]["worker"]


def consumer_pid(base_url: str, previous: int | None = None) -> int | None:
    """The embedded worker's pid once it is up and beating (and is not `previous`)."""
    worker = worker_health(base_url)
    pid = worker.get("embedded", {}).get("pid")
    return pid if worker["alive"] and pid != previous else None


@contextmanager
def sign_up(base_url: str) -> Iterator[httpx.Client]:
    """A browser signed in to a new account."""
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        response = browser.post("/api/v1/auth/signup", json={"email": unique_email("sup"), "password": PASSWORD})
        assert response.status_code == 201, response.text
        yield browser


def ocr_finished(browser: httpx.Client, document_id: str, service: Service, *, within: float) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        ocr = browser.get(f"{DOCS}/{document_id}/ocr").json()
        return ocr if ocr["status"] in FINISHED else None

    return wait_for(finished, within=within, what=lambda: f"OCR of {document_id}\n{service.log()}", interval=0.3)


def test_a_killed_embedded_worker_is_restarted_and_does_the_next_upload(tmp_path: Path) -> None:
    with serving(tmp_path, EMBEDDED_WORKER="true") as (base_url, service), sign_up(base_url) as browser:
        first = wait_for(lambda: consumer_pid(base_url), within=60, what=lambda: "a beating worker\n" + service.log())
        os.kill(first, signal.SIGKILL)
        killed_at = utcnow()

        second = wait_for(
            lambda: consumer_pid(base_url, previous=first), within=60, what=lambda: "a new worker\n" + service.log()
        )
        page, _ = render_page(ENGLISH_LETTER[:2])
        uploaded = browser.post(UPLOAD, files={"file": ("letter.png", png_bytes(page))}, data={"languages": "eng"})
        assert uploaded.status_code == 202, uploaded.text
        ocr = ocr_finished(browser, uploaded.json()["id"], service, within=90)
        worker = worker_health(base_url)
        status = httpx.get(f"{base_url}/health", timeout=10).json()["status"]

        assert service.is_running()  # the server was never restarted
        assert ocr["status"] == "done", ocr["error"]
        assert second != first
        assert not psutil.pid_exists(first)  # reaped: no zombie left behind
        assert (worker["alive"], worker["embedded"]["restarts"], worker["jobs_waiting"]) == (True, 1, 0)
        assert datetime.fromisoformat(worker["last_heartbeat_at"]) > killed_at
        assert status == "ok"
        assert f"embedded worker pid={first} exited" in service.log()


def test_a_worker_killed_three_times_during_a_job_finishes_it_ahead_of_later_uploads(tmp_path: Path) -> None:
    count = 5
    with serving(tmp_path, EMBEDDED_WORKER="true") as (base_url, service), sign_up(base_url) as browser:
        wait_for(lambda: consumer_pid(base_url), within=60, what=lambda: "a beating worker\n" + service.log())
        bundle = browser.post(UPLOAD, files={"file": ("bundle.tiff", tiff_bytes(named_pages(count)))})
        assert bundle.status_code == 202, bundle.text
        document_id = bundle.json()["id"]
        later = []
        for number in range(2):
            page, _ = render_page(ENGLISH_LETTER[number : number + 1])
            response = browser.post(UPLOAD, files={"file": (f"later-{number}.png", png_bytes(page))})
            later.append(response.json()["id"])

        saved: dict[int, datetime] = {}  # page -> when it was saved, as seen after each kill
        done_at_kill = 0
        for _ in range(3):

            def progressed(after: int = done_at_kill) -> dict[str, Any] | None:
                ocr = browser.get(f"{DOCS}/{document_id}/ocr").json()
                return ocr if ocr["status"] == "processing" and ocr["pages_done"] > after else None

            wait_for(progressed, within=120, what=lambda: "a page more\n" + service.log(), interval=0.1)
            pid = worker_health(base_url)["embedded"]["pid"]
            os.kill(pid, signal.SIGKILL)
            rows = asyncio.run(_page_rows(service, document_id))
            done_at_kill = len(rows)
            saved.update({row.number: row.created_at for row in rows})
            wait_for(lambda p=pid: consumer_pid(base_url, previous=p), within=60, what="the worker's restart")

        ocr = ocr_finished(browser, document_id, service, within=180)
        others = [ocr_finished(browser, other, service, within=120) for other in later]
        document = browser.get(f"{DOCS}/{document_id}").json()
        rows = asyncio.run(_page_rows(service, document_id))
        job = asyncio.run(_job(service, document_id))

    assert ocr["status"] == "done", ocr["error"]
    assert (ocr["pages_total"], ocr["pages_done"]) == (count, count)
    assert [row.number for row in rows] == list(range(1, count + 1))
    # Each page read once: a page saved before a kill was never read (and saved) again.
    assert {row.number: row.created_at for row in rows if row.number in saved} == saved
    for number in range(1, count + 1):
        assert squeezed(document["content"]).count(marker(number)) == 1
    # Three kills were no attempt of the file, and pages came between them.
    assert (job.attempts, job.crashes) == (1, 0)
    # Taken back at the head of the queue: done before the uploads made after it were started.
    assert all(other["status"] == "done" for other in others)
    assert all(datetime.fromisoformat(ocr["finished_at"]) <= datetime.fromisoformat(o["started_at"]) for o in others)


async def _page_rows(service: Service, document_id: str) -> list[OcrPage]:
    async with database_of(service) as db:
        return await page_rows_in(db, document_id)


async def _job(service: Service, document_id: str) -> OcrJob:
    async with database_of(service) as db:
        return await job_in(db, document_id)
