"""Per-worker state: one event loop, database engine, store and OCR engine per worker thread or
process, created on first use (after any fork) and never shared."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from app import ocr
from app.core.config import Settings, get_settings
from app.db.session import Database
from app.models.base import utcnow
from app.services.ocr_pipeline import OcrDeps
from app.services.workers import WorkerIdentity
from app.storage import storage_from_settings

T = TypeVar("T")
# A worker started by the API (embedded mode) is given the API's settings in this variable.
SETTINGS_ENV = "LEKHAMUDRA_WORKER_SETTINGS"
_local = threading.local()
# This process's consumer, once it runs one (`consumer.run_consumer`): its claims name it.
_identity: WorkerIdentity | None = None


def set_identity(identity: WorkerIdentity) -> None:
    global _identity
    _identity = identity


def worker_settings() -> Settings:
    raw = os.environ.get(SETTINGS_ENV)
    return Settings.model_validate(json.loads(raw)) if raw else get_settings()


class WorkerContext:
    def __init__(self, settings: Settings) -> None:
        from app.worker.queue import Queue  # which imports this module for its tasks' context

        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.db = Database.from_settings(settings, pool_size=2, driver_pool_size=2)
        self.storage = storage_from_settings(settings)
        self.queue = Queue(settings)
        self._engine: ocr.OcrEngine | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def engine(self) -> ocr.OcrEngine:
        if self._engine is None:
            self._engine = ocr.OcrEngine(
                ocr.tessdata_dir(self.settings.tessdata_prefix), page_timeout=self.settings.ocr_page_timeout_seconds
            )
        return self._engine

    def ocr_deps(self) -> OcrDeps:
        return OcrDeps(
            settings=self.settings,
            db=self.db,
            storage=self.storage,
            engine=self.engine,
            enqueue=self.queue.enqueue_ocr,
            clock=utcnow,
            worker_id=_identity.id if _identity is not None else None,
            held=self.queue.held_ocr_runs,
        )


def worker_context() -> WorkerContext:
    ctx: WorkerContext | None = getattr(_local, "ctx", None)
    if ctx is None or getattr(_local, "pid", None) != os.getpid():
        ctx = _local.ctx = WorkerContext(worker_settings())
        _local.pid = os.getpid()
    return ctx
