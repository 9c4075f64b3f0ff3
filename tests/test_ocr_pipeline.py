"""The OCR job, run in-process on the real engine: results, progress, and what never gets lost."""

from __future__ import annotations

import io
import os
import signal
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select, update

from app.models import OcrJob, OcrPage
from app.models.base import utcnow
from app.ocr import OcrEngine
from app.services.ocr_pipeline import RECOVERED_PRIORITY, OcrDeps, reap_stalled_jobs, run_ocr_job
from app.storage import StorageUnavailable
from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, cer, render_page

pytestmark = pytest.mark.usefixtures("alice")
UPLOAD = "/api/v1/documents/upload"
DOCS = "/api/v1/documents"


def page_png(paragraphs: list[str]) -> tuple[bytes, str]:
    image, truth = render_page(paragraphs)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue(), truth


def pages_pdf(*pages: list[str]) -> tuple[bytes, list[str]]:
    images, truths = zip(*(render_page(p) for p in pages), strict=True)
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=300, save_all=True, append_images=list(images[1:]))
    return buffer.getvalue(), list(truths)


async def upload(
    client: httpx.AsyncClient, content: bytes, filename: str = "scan.png", **fields: str
) -> dict[str, Any]:
    response = await client.post(UPLOAD, files={"file": (filename, content)}, data=fields)
    assert response.status_code == 202, response.text
    return response.json()


async def ocr_of(client: httpx.AsyncClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"{DOCS}/{doc['id']}/ocr")
    assert response.status_code == 200
    return response.json()


async def job_row(app: FastAPI, doc: dict[str, Any]) -> Any:
    async with app.state.db.engine.connect() as conn:
        return (await conn.execute(select(OcrJob).where(OcrJob.document_id == uuid.UUID(doc["id"])))).one()


async def page_count(app: FastAPI, doc: dict[str, Any]) -> int:
    async with app.state.db.engine.connect() as conn:
        stmt = select(func.count()).select_from(OcrPage).where(OcrPage.document_id == uuid.UUID(doc["id"]))
        return await conn.scalar(stmt)


async def test_a_nepali_scan_becomes_the_documents_text(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    content, truth = page_png(NEPALI_NOTICE)
    doc = await upload(client, content)

    outcome = await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)

    assert outcome == "done"
    ocr = await ocr_of(client, doc)
    assert ocr["status"] == "done"
    assert (ocr["pages_total"], ocr["pages_done"]) == (1, 1)
    assert ocr["started_at"] and ocr["finished_at"] and ocr["error"] is None
    (page,) = ocr["pages"]
    assert page["number"] == 1 and page["source"] == "ocr"
    assert 50 < page["confidence"] <= 100
    assert cer(truth, page["text"]) <= 0.05
    updated = (await client.get(f"{DOCS}/{doc['id']}")).json()
    assert updated["content"] == page["text"]
    assert updated["version"] == 2
    assert updated["ocr"]["status"] == "done"


async def test_every_page_of_a_pdf_is_read_in_order(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    content, truths = pages_pdf(ENGLISH_LETTER[:3], NEPALI_NOTICE[:3])
    doc = await upload(client, content, filename="two pages.pdf")

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    ocr = await ocr_of(client, doc)
    assert [p["number"] for p in ocr["pages"]] == [1, 2]
    assert cer(truths[0], ocr["pages"][0]["text"]) <= 0.03
    assert cer(truths[1], ocr["pages"][1]["text"]) <= 0.05
    content_now = (await client.get(f"{DOCS}/{doc['id']}")).json()["content"]
    assert content_now == ocr["pages"][0]["text"] + "\n\n" + ocr["pages"][1]["text"]


async def test_ocr_does_not_overwrite_content_the_user_edited_meanwhile(
    client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:2])[0])
    edited = await client.patch(f"{DOCS}/{doc['id']}", json={"content": "मेरो आफ्नै टिप्पणी"})
    assert edited.status_code == 200

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    after = (await client.get(f"{DOCS}/{doc['id']}")).json()
    assert after["content"] == "मेरो आफ्नै टिप्पणी"
    assert after["version"] == 2
    assert "Government" in (await ocr_of(client, doc))["pages"][0]["text"]


async def test_a_job_delivered_twice_gives_one_result(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:2])[0])

    first = await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)
    second = await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)

    assert (first, second) == ("done", "skipped")
    assert await page_count(app, doc) == 1
    assert (await job_row(app, doc)).attempts == 1
    assert (await client.get(f"{DOCS}/{doc['id']}")).json()["version"] == 2


async def test_rerun_queues_a_new_generation_and_ignores_the_old_one(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:2])[0])
    await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)

    response = await client.post(f"{DOCS}/{doc['id']}/ocr", json={"languages": "eng"})

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert response.json()["languages"] == "eng"
    assert response.json()["pages"] == []
    assert (await client.post(f"{DOCS}/{doc['id']}/ocr", json={})).status_code == 409
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "skipped"
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 2) == "done"
    assert (await ocr_of(client, doc))["status"] == "done"
    assert await page_count(app, doc) == 1


async def test_a_corrupt_file_fails_at_once_with_a_clear_error(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    good = page_png(ENGLISH_LETTER[:1])[0]
    doc = await upload(client, good[:200] + b"\x00garbage" * 100)

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "failed"

    ocr = await ocr_of(client, doc)
    assert ocr["status"] == "failed"
    assert ocr["error"] and "image" in ocr["error"].lower()
    assert (await job_row(app, doc)).attempts == 1
    assert deps.enqueue == []  # permanent: no retry


async def test_a_heic_photo_from_an_iphone_is_accepted_and_read(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    image, truth = render_page(NEPALI_NOTICE)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="HEIF", quality=85)

    doc = await upload(client, buffer.getvalue(), filename="IMG_4821.HEIC")
    assert doc["file"]["content_type"] == "image/heic"
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    (page,) = (await ocr_of(client, doc))["pages"]
    assert cer(truth, page["text"]) <= 0.03


async def test_an_image_of_pure_noise_fails_with_a_reason(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    buffer = io.BytesIO()
    noise = np.random.default_rng(24).integers(0, 256, (1600, 1200), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    doc = await upload(client, buffer.getvalue(), filename="noise.png")

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "failed"

    ocr = await ocr_of(client, doc)
    assert ocr["status"] == "failed"
    assert ocr["error"] == "page 1: the image looks like noise, not a page: no paper or text found to read"
    assert ocr["pages"] == []
    assert deps.enqueue == []  # permanent: no retry
    assert (await job_row(app, doc)).attempts == 1


async def test_a_pdf_over_the_page_limit_fails_with_the_limit_named(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    content, _ = pages_pdf(ENGLISH_LETTER[:1], ENGLISH_LETTER[1:2])
    doc = await upload(client, content, filename="long.pdf")
    deps.settings = deps.settings.model_copy(update={"max_pdf_pages": 1})

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "failed"

    error = (await ocr_of(client, doc))["error"]
    assert "2" in error and "1" in error and "page" in error.lower()


async def test_a_storage_outage_is_retried_with_backoff_then_fails(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])

    async def unavailable(key: str, path: Path) -> None:
        raise StorageUnavailable("store unreachable")

    monkeypatch.setattr(deps.storage, "download_to", unavailable)
    outcomes = [await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) for _ in range(3)]

    assert outcomes == ["retrying", "retrying", "failed"]
    assert [delay for _, _, delay in deps.enqueue] == [10.0, 40.0]
    ocr = await ocr_of(client, doc)
    assert ocr["status"] == "failed"
    assert "3 attempts" in ocr["error"]


async def test_after_a_transient_error_the_next_attempt_succeeds(
    client: httpx.AsyncClient, deps: OcrDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    real_download = deps.storage.download_to
    calls = 0

    async def flaky(key: str, path: Path) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StorageUnavailable("blip")
        await real_download(key, path)

    monkeypatch.setattr(deps.storage, "download_to", flaky)

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "retrying"
    assert (await ocr_of(client, doc))["status"] == "queued"
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"


async def test_missing_language_data_fails_the_job_saying_how_to_install_it(
    client: httpx.AsyncClient, deps: OcrDeps, tmp_path: Path
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    with OcrEngine(tmp_path, page_timeout=30) as no_data:  # a folder with no language data
        deps.engine = lambda: no_data
        assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "failed"

    assert "tesseract-ocr-nep" in (await ocr_of(client, doc))["error"]


async def test_reaper_requeues_a_job_whose_worker_died(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    async with app.state.db.engine.begin() as conn:
        await conn.execute(
            update(OcrJob).values(
                status="processing", attempts=1, claims=1, lease_expires_at=utcnow() - timedelta(seconds=1)
            )
        )

    assert await reap_stalled_jobs(deps) == 1
    assert deps.enqueue == [(uuid.UUID(doc["id"]), 1, None)]
    assert deps.enqueue.priorities == [RECOVERED_PRIORITY]
    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"
    job = await job_row(app, doc)
    # The run cut short by its worker's death was not an attempt of the file.
    assert (job.attempts, job.claims, job.crashes) == (1, 2, 0)


async def test_reaper_leaves_a_job_whose_lease_is_live(app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps) -> None:
    await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    async with app.state.db.engine.begin() as conn:
        await conn.execute(
            update(OcrJob).values(status="processing", attempts=1, lease_expires_at=utcnow() + timedelta(minutes=5))
        )

    assert await reap_stalled_jobs(deps, once_per_slot=False) == 0
    assert deps.enqueue == []


async def test_reaper_requeues_a_job_whose_enqueue_was_lost(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    async with app.state.db.engine.begin() as conn:
        await conn.execute(update(OcrJob).values(queued_at=utcnow() - timedelta(hours=1)))

    assert await reap_stalled_jobs(deps, once_per_slot=False) == 1
    assert deps.enqueue == [(uuid.UUID(doc["id"]), 1, None)]


async def test_the_periodic_reaper_runs_once_per_minute_however_many_consumers(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    async with app.state.db.engine.begin() as conn:
        await conn.execute(update(OcrJob).values(queued_at=utcnow() - timedelta(hours=1)))

    runs = [await reap_stalled_jobs(deps) for _ in range(3)]

    assert sorted(runs) == [0, 0, 1]


async def test_a_worker_whose_lease_was_taken_over_can_no_longer_write(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps
) -> None:
    from app.crud import ocr as ocr_crud

    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0])
    document_id = uuid.UUID(doc["id"])
    now = utcnow()
    async with app.state.db.unit_of_work() as session:
        stalled = await ocr_crud.claim_job(
            session=session, document_id=document_id, generation=1, now=now, lease=timedelta(seconds=5)
        )
    async with app.state.db.unit_of_work() as session:
        takeover = await ocr_crud.claim_job(
            session=session, document_id=document_id, generation=1, now=now + timedelta(seconds=6), lease=deps.lease
        )
    assert stalled is not None and takeover is not None and takeover.claims == 2

    page = OcrPage(
        document_id=document_id, number=1, text="late", confidence=1, source="ocr", engine="x", languages="eng"
    )
    async with app.state.db.unit_of_work() as session:
        written = await ocr_crud.store_page(session=session, job=stalled, page=page, now=now, lease=deps.lease)

    assert written is False
    assert await page_count(app, doc) == 0


async def test_ocr_text_is_searchable_and_a_hit_names_its_page(client: httpx.AsyncClient, deps: OcrDeps) -> None:
    content, _ = pages_pdf(ENGLISH_LETTER[:2], NEPALI_NOTICE[:3])
    doc = await upload(client, content, filename="notice.pdf")
    assert (await client.get("/api/v1/search", params={"q": "मन्त्रालय"})).json()["total"] == 0

    assert await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) == "done"

    (hit,) = (await client.get("/api/v1/search", params={"q": "मन्त्रालय"})).json()["items"]
    assert hit["document"]["id"] == doc["id"]
    assert hit["page"] == 2
    assert "<mark>" in hit["snippet"]


# --- The engine process killed under a page --------------------------------------------------


class _KillAfterSending:
    """The engine's pipe, SIGKILLing the engine process as soon as a page's pixels are sent."""

    def __init__(self, conn: Any, engine: KillingEngine) -> None:
        self._conn, self._engine = conn, engine

    def send_bytes(self, data: bytes) -> None:
        self._conn.send_bytes(data)
        engine = self._engine
        engine.pages_sent += 1
        if engine.pages_sent > engine.spare and engine.kills_left > 0:
            engine.kills_left -= 1
            os.kill(engine.pid, signal.SIGKILL)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class KillingEngine(OcrEngine):
    """The real engine, whose Tesseract process is killed (SIGKILL) under a page `kills` times,
    after reading `spare` pages."""

    def __init__(self, tessdata: Path, *, kills: int, spare: int = 0) -> None:
        super().__init__(tessdata, page_timeout=60)
        self.kills_left, self.spare, self.pages_sent = kills, spare, 0

    def _ready(self, languages: str) -> Any:
        return _KillAfterSending(super()._ready(languages), self)


async def test_an_engine_killed_mid_page_is_retried_not_failed(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps, tessdata: Path
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0], languages="eng")
    with KillingEngine(tessdata, kills=1) as killing:
        deps.engine = lambda: killing
        first = await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)
        queued = await ocr_of(client, doc)
        second = await run_ocr_job(deps, uuid.UUID(doc["id"]), 1)

    assert (first, second) == ("crashed", "done")
    assert queued["status"] == "queued"
    assert "engine process died" in queued["error"]
    # Queued again at once, ahead of newer uploads.
    assert deps.enqueue == [(uuid.UUID(doc["id"]), 1, None)]
    assert deps.enqueue.priorities == [RECOVERED_PRIORITY]
    ocr = await ocr_of(client, doc)
    assert (ocr["status"], ocr["error"], [p["number"] for p in ocr["pages"]]) == ("done", None, [1])
    job = await job_row(app, doc)
    assert (job.attempts, job.crashes) == (1, 0)


async def test_a_file_that_kills_the_engine_every_time_fails_saying_so(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps, tessdata: Path
) -> None:
    doc = await upload(client, page_png(ENGLISH_LETTER[:1])[0], languages="eng")
    with KillingEngine(tessdata, kills=100) as killing:
        deps.engine = lambda: killing
        outcomes = [await run_ocr_job(deps, uuid.UUID(doc["id"]), 1) for _ in range(3)]

    max_crashes = app.state.settings.ocr_max_crashes
    assert outcomes == ["crashed"] * (max_crashes - 1) + ["failed"]
    ocr = await ocr_of(client, doc)
    assert ocr["status"] == "failed"
    assert ocr["error"] == f"the OCR engine stopped {max_crashes} times while reading this file"
    # The runs cut short were not attempts; the one that failed the file is its only one.
    assert (await job_row(app, doc)).attempts == 1


async def test_a_page_saved_between_crashes_starts_their_count_again(
    app: FastAPI, client: httpx.AsyncClient, deps: OcrDeps, tessdata: Path
) -> None:
    content, _ = pages_pdf(ENGLISH_LETTER[:1], ENGLISH_LETTER[1:2], ENGLISH_LETTER[2:3], ENGLISH_LETTER[3:4])
    doc = await upload(client, content, "letter.pdf", languages="eng")
    outcomes = []
    for _ in range(8):
        with KillingEngine(tessdata, kills=1, spare=1) as killing:  # reads one page, dies under the next
            deps.engine = lambda: killing
            outcomes.append(await run_ocr_job(deps, uuid.UUID(doc["id"]), 1))
        if outcomes[-1] != "crashed":
            break

    assert outcomes == ["crashed", "crashed", "crashed", "done"]
    ocr = await ocr_of(client, doc)
    assert (ocr["status"], [p["number"] for p in ocr["pages"]]) == ("done", [1, 2, 3, 4])
    job = await job_row(app, doc)
    assert (job.attempts, job.crashes) == (1, 0)
