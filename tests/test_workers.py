"""Workers' heartbeats: the jobs of a worker that is gone are taken back at once, ahead of newer
uploads; a live worker keeps its own. Run on the suite's database and the real queues."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.core.config import Settings
from app.crud import ocr as ocr_crud
from app.models import OcrJob, Worker
from app.models.base import utcnow
from app.services.ocr_pipeline import RECOVERED_PRIORITY, OcrDeps
from app.services.workers import STALE_BEATS, WorkerIdentity, beat_and_take_back
from app.worker.queue import Queue
from tests.conftest import Enqueued
from tests.ocr.pages import ENGLISH_LETTER
from tests.test_ocr_pipeline import page_png, upload

pytestmark = pytest.mark.usefixtures("alice")


@pytest.fixture
def deps(app: FastAPI) -> OcrDeps:
    return OcrDeps(
        settings=app.state.settings,
        db=app.state.db,
        storage=app.state.storage,
        engine=lambda: pytest.fail("no OCR here"),
        enqueue=Enqueued(),
        clock=utcnow,
    )


def exited_pid() -> int:
    """The pid of a process that has ended (and been reaped) on this host."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


async def claimed_by(app: FastAPI, client: httpx.AsyncClient, worker: WorkerIdentity, *, beat_ago: float) -> str:
    """An upload whose job `worker` claimed, that worker's row beating `beat_ago` seconds ago."""
    doc = (await upload(client, page_png(ENGLISH_LETTER[:1])[0]))["id"]
    now = utcnow()
    async with app.state.db.unit_of_work() as session:
        session.add(
            Worker(
                id=worker.id,
                host=worker.host,
                pid=worker.pid,
                started_at=now - timedelta(minutes=5),
                heartbeat_at=now - timedelta(seconds=beat_ago),
            )
        )
        job = await ocr_crud.claim_job(
            session=session,
            document_id=uuid.UUID(doc),
            generation=1,
            now=now,
            lease=timedelta(seconds=300),
            worker_id=worker.id,
        )
        assert job is not None
    return doc


async def job_and_workers(app: FastAPI, doc: str) -> tuple[Any, set[str]]:
    async with app.state.db.engine.connect() as conn:
        job = (await conn.execute(select(OcrJob).where(OcrJob.document_id == uuid.UUID(doc)))).one()
        workers = set((await conn.scalars(select(Worker.id))).all())
    return job, workers


async def test_the_jobs_of_a_worker_whose_process_is_gone_are_taken_back_at_once(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    me = WorkerIdentity()
    dead = WorkerIdentity(pid=exited_pid())  # this host; heartbeat a second old, so still fresh
    doc = await claimed_by(app, client, dead, beat_ago=1)

    assert await beat_and_take_back(deps, me, started_at=utcnow()) == 1

    job, workers = await job_and_workers(app, doc)
    assert (job.status, job.worker_id, job.lease_expires_at) == ("queued", None, None)
    assert (job.attempts, job.crashes) == (0, 1)  # a crash, not an attempt of the file
    assert deps.enqueue == [(uuid.UUID(doc), 1, None)]
    assert deps.enqueue.priorities == [RECOVERED_PRIORITY]
    assert workers == {me.id}


async def test_the_jobs_of_a_worker_on_another_host_are_taken_back_when_its_heartbeat_is_stale(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    interval = app.state.settings.worker_heartbeat_seconds
    elsewhere = WorkerIdentity(host="another-machine", pid=1)
    doc = await claimed_by(app, client, elsewhere, beat_ago=interval * STALE_BEATS + 1)

    assert await beat_and_take_back(deps, WorkerIdentity(), started_at=utcnow()) == 1

    job, workers = await job_and_workers(app, doc)
    assert job.status == "queued"
    assert elsewhere.id not in workers


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param(lambda: WorkerIdentity(), id="live-process-on-this-host"),
        pytest.param(lambda: WorkerIdentity(host="another-machine", pid=1), id="fresh-heartbeat-elsewhere"),
    ],
)
async def test_a_live_worker_keeps_its_jobs(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps, owner: Any) -> None:
    alive = owner()
    doc = await claimed_by(app, client, alive, beat_ago=1)

    assert await beat_and_take_back(deps, WorkerIdentity(), started_at=utcnow()) == 0

    job, workers = await job_and_workers(app, doc)
    assert (job.status, job.worker_id, job.crashes) == ("processing", alive.id, 0)
    assert deps.enqueue == []
    assert alive.id in workers


async def test_a_heartbeat_renews_the_workers_row(app: FastAPI, deps: OcrDeps) -> None:
    me = WorkerIdentity()
    await beat_and_take_back(deps, me, started_at=utcnow())
    async with app.state.db.engine.begin() as conn:
        await conn.execute(update(Worker).values(heartbeat_at=utcnow() - timedelta(minutes=1)))
    before = utcnow()

    await beat_and_take_back(deps, me, started_at=utcnow())

    async with app.state.db.engine.connect() as conn:
        [row] = (await conn.execute(select(Worker))).all()
    assert (row.id, row.pid) == (me.id, me.pid)
    assert row.heartbeat_at >= before


# --- Re-queued jobs keep their place ------------------------------------------------------------


def dequeued_order(queue: Queue) -> list[str]:
    order = []
    while (message := queue.huey.dequeue()) is not None:
        order.append(message.args[0])
    return order


def queue_ahead_test(queue: Queue) -> None:
    later = [uuid.uuid4() for _ in range(3)]
    recovered = uuid.uuid4()
    for document_id in later:
        queue.enqueue_ocr_sync(document_id, 1)
    queue.enqueue_ocr_sync(recovered, 1, priority=RECOVERED_PRIORITY)

    assert dequeued_order(queue) == [str(recovered), *map(str, later)]


def test_a_recovered_job_goes_ahead_of_later_uploads_on_sqlite(settings: Settings) -> None:
    queue_ahead_test(Queue(settings.model_copy(update={"queue_url": None})))


def test_a_recovered_job_goes_ahead_of_later_uploads_on_redis(settings: Settings, redis_url: str) -> None:
    queue_ahead_test(Queue(settings.model_copy(update={"queue_url": redis_url})))


async def test_a_job_whose_message_went_with_a_dead_worker_is_sent_again(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    queue: Queue = app.state.queue
    taken, waiting = [(await upload(client, page_png(ENGLISH_LETTER[:1])[0]))["id"] for _ in range(2)]
    # A worker took the first message off the queue and was killed before it claimed the job.
    assert queue.huey.dequeue().args[0] == taken  # type: ignore[union-attr]
    dead = WorkerIdentity(pid=exited_pid())
    async with app.state.db.unit_of_work() as session:
        session.add(Worker(id=dead.id, host=dead.host, pid=dead.pid, started_at=utcnow(), heartbeat_at=utcnow()))
    deps.held = queue.held_ocr_runs

    assert await beat_and_take_back(deps, WorkerIdentity(), started_at=utcnow()) == 1

    assert deps.enqueue == [(uuid.UUID(taken), 1, None)]  # the other one's message is still there
    assert deps.enqueue.priorities == [RECOVERED_PRIORITY]
    assert await queue.held_ocr_runs() == {(uuid.UUID(waiting), 1)}
