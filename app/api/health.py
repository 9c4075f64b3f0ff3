from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.api.metrics import is_operator
from app.core.incidents import incident
from app.db.checks import database_status
from app.models.base import utcnow
from app.services.workers import worker_status
from app.storage import Storage
from app.worker.queue import Queue
from app.worker.supervisor import EmbeddedWorker

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 3.0
REQUIRED_COMPONENTS = ("database", "storage", "queue")
LOW_DISK = incident("disk_space_low")


@router.get("/ping")
async def ping() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def _storage_status(storage: Storage) -> dict[str, Any]:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await storage.ping()
    except Exception as exc:
        log.warning("health: storage unavailable: %s", type(exc).__name__)
        return {"status": "unavailable", "backend": storage.kind}
    return {"status": "ok", "backend": storage.kind}


async def _queue_status(queue: Queue) -> dict[str, Any]:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            pending = await queue.pending()
    except Exception as exc:
        log.warning("health: queue unavailable: %s", type(exc).__name__)
        return {"status": "unavailable", "backend": queue.kind}
    return {"status": "ok", "backend": queue.kind, "pending": pending}


async def _disk_status(data_dir: Path, warning_mb: int) -> dict[str, Any]:
    """Free space under DATA_DIR (SQLite, the embedded queue, local files): `low` below the
    threshold, before writes start failing with 507."""
    usage = await asyncio.to_thread(shutil.disk_usage, data_dir)
    free_mb = usage.free // (1024 * 1024)
    if free_mb < warning_mb:
        LOW_DISK.happened(f"{free_mb} MB free under {data_dir}, below DISK_FREE_WARNING_MB={warning_mb}")
        return {"status": "low", "free_mb": free_mb, "warning_mb": warning_mb}
    LOW_DISK.ended()
    return {"status": "ok", "free_mb": free_mb, "warning_mb": warning_mb}


async def _worker_status(state: Any) -> dict[str, Any]:
    """Alive: a worker's heartbeat is fresh (in embedded mode: this server's child runs, and a
    heartbeat came since it started, not only from the one it replaced)."""
    embedded: EmbeddedWorker | None = getattr(state, "embedded_worker", None)
    supervised = embedded is not None and embedded.enabled
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            report = await worker_status(db=state.db, now=utcnow(), interval=state.settings.worker_heartbeat_seconds)
    except Exception as exc:
        log.warning("health: worker state unknown: %s", type(exc).__name__)
        return {"status": "unknown", "expected": supervised}
    if supervised:
        assert embedded is not None
        report["embedded"] = embedded.status()
        last = report["last_heartbeat_at"]
        started = embedded.started_at
        if not embedded.running or last is None or (started and datetime.fromisoformat(last) < started):
            report.update(status="down", alive=False)
    # A worker is expected when this server runs one, or once jobs wait for one.
    report["expected"] = supervised or report["jobs_waiting"] > 0
    return report


def _ocr_status(installed: list[str]) -> dict[str, Any]:
    # Informational: the server runs without language data; OCR jobs then fail saying how to fix it.
    import tesserocr

    version = tesserocr.tesseract_version().splitlines()[0]
    if not installed:
        return {
            "status": "missing_language_data",
            "version": version,
            "languages": [],
            "hint": "TESSDATA_PREFIX names a directory without nep.traineddata and eng.traineddata",
        }
    return {"status": "ok", "version": version, "languages": installed}


@router.get(
    "/health",
    responses={503: {"description": "A component is unavailable"}},
)
async def health(request: Request) -> JSONResponse:
    """Readiness: `status`, 503 when a required component is down, 200 "degraded" when only the
    OCR worker is (the API serves; uploads wait); each component's status, backend and versions
    only for operators (the /metrics rule)."""
    state = request.app.state
    components = {
        "database": await database_status(state.db),
        "storage": await _storage_status(state.storage),
        "queue": await _queue_status(state.queue),
        "ocr": _ocr_status(state.installed_languages),
        "disk": await _disk_status(state.settings.data_dir, state.settings.disk_free_warning_mb),
        "worker": await _worker_status(state),
    }
    healthy = all(components[name]["status"] == "ok" for name in REQUIRED_COMPONENTS)
    # Not required: without a worker the API still serves; uploads wait, so the status says so.
    worker = components["worker"]
    degraded = worker["expected"] and worker["status"] != "ok"
    # Components (backends, versions, why the database is unavailable: its host, port and user)
    # are for operators only.
    body: dict[str, Any] = {"status": "unavailable" if not healthy else "degraded" if degraded else "ok"}
    if is_operator(request):
        body["components"] = components
    return JSONResponse(body, status_code=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
