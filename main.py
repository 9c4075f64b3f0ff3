"""The ASGI app: `uvicorn main:app` or `lekhamudra serve`."""

from __future__ import annotations

import gc
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypedDict

import anyio
from fastapi import FastAPI
from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.direct_routes import DirectRoutesMiddleware, bind
from app.api.errors import install_error_handlers
from app.api.health import router as health_router
from app.api.metrics import router as metrics_router
from app.api.middleware import (
    BodyLimitMiddleware,
    BrowserCorsMiddleware,
    CatchAllMiddleware,
    OriginCheckMiddleware,
    QuietLifespanMiddleware,
    RequestContextMiddleware,
)
from app.api.v1 import DIRECT_ROUTES, PREFIX, ROUTERS
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.security import Passwords
from app.core.signing import DeviceCookies, secret_key
from app.db.checks import refuse_schema_not_at_head
from app.db.migrate import MIGRATED_ENV, upgrade_report, upgrade_to_head
from app.db.session import Database
from app.models.base import utcnow
from app.ocr import installed_languages, tessdata_dir
from app.services.ingest import MULTIPART_OVERHEAD
from app.services.sessions import SessionPolicy
from app.services.throttle import AuthThrottle
from app.storage import storage_from_settings
from app.worker.queue import Queue
from app.worker.supervisor import EmbeddedWorker

log = logging.getLogger("lekhamudra")
UPLOAD_PATH = "/api/v1/documents/upload"
PAGES_PATH = re.compile(r"/api/v1/documents/[^/]+/pages")
AUTH_BODY_PATHS = ("/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/password")
AUTH_MAX_BODY_BYTES = 16 * 1024


def proxy_middleware(settings: Settings) -> list[Middleware]:
    """Believe X-Forwarded-For/-Proto only from TRUSTED_PROXIES (audit and throttling use the client IP)."""
    if not settings.trusted_proxies:
        return []
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)]


class DocsRoutes(TypedDict, total=False):
    docs_url: None
    redoc_url: None
    openapi_url: None


def docs_routes(settings: Settings) -> DocsRoutes:
    """FastAPI's arguments turning off /docs, /redoc and /openapi.json unless DOCS_ENABLED (by
    default, outside prod): in prod the schema would map every route and field for a prober."""
    return {} if settings.serves_api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.device_cookies = DeviceCookies(secret_key(settings))
        if os.environ.get(MIGRATED_ENV) == "1":
            pass  # `lekhamudra serve` migrated, or checked the schema, before starting this process
        elif settings.migrate_on_start:
            log.info(upgrade_report(*await anyio.to_thread.run_sync(upgrade_to_head, settings)))
        else:
            await refuse_schema_not_at_head(app.state.db)
        worker = app.state.embedded_worker = EmbeddedWorker(settings)
        embedded = worker.start()
        # Everything made while starting (modules, routes, models) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it mid-request.
        gc.collect()
        gc.freeze()
        log.info(
            "lekhamudra started env=%s database=%s storage=%s queue=%s embedded_worker=%s",
            settings.env,
            app.state.db.engine.dialect.name,
            app.state.storage.kind,
            app.state.queue.kind,
            embedded,
        )
        try:
            yield
        finally:
            gc.unfreeze()  # an app that stops (in tests, many per process) can be collected again
            await anyio.to_thread.run_sync(worker.stop)
            await app.state.queue.close()
            await app.state.db.dispose()

    app = FastAPI(
        title="Lekhamudra",
        summary="Document sharing with Nepali + English OCR",
        version="0.1.0",
        lifespan=lifespan,
        **docs_routes(settings),
        # FastAPI's own OpenTelemetry hooks: off. Metrics are Prometheus (/metrics), logs our own;
        # left on, every request asks OpenTelemetry for its providers (environment look-ups).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        middleware=[
            Middleware(QuietLifespanMiddleware),
            *proxy_middleware(settings),
            Middleware(RequestContextMiddleware),
            Middleware(
                BrowserCorsMiddleware,
                allow_origins=settings.trusted_origins,
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Content-Type", "If-Match", "X-Request-ID", "X-Share-Password"],
                expose_headers=["ETag", "X-Request-ID"],
                max_age=600,
            ),
            Middleware(CatchAllMiddleware),
            Middleware(
                OriginCheckMiddleware,
                trusted_origins=settings.trusted_origins,
                trust_own_loopback=settings.env == "dev",
                explain=settings.env == "dev",
            ),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_request_bytes,
                # Uploads stream to storage under their own limit (the file's, plus form framing).
                path_limits={
                    UPLOAD_PATH: settings.max_upload_request_bytes + MULTIPART_OVERHEAD,
                    # Auth forms are tiny: a body with 100 000 fields is refused before parsing.
                    **dict.fromkeys(AUTH_BODY_PATHS, min(AUTH_MAX_BODY_BYTES, settings.max_request_bytes)),
                },
                self_checked_paths=frozenset({UPLOAD_PATH}),
                pattern_limits=((PAGES_PATH, settings.max_upload_request_bytes + MULTIPART_OVERHEAD),),
            ),
        ],
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.db = Database.from_settings(settings)
    app.state.passwords = Passwords(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        max_concurrent=settings.max_concurrent_hashes,
    )
    app.state.session_policy = SessionPolicy.from_settings(settings)
    app.state.throttle = AuthThrottle(settings)
    app.state.storage = storage_from_settings(settings)
    app.state.queue = Queue(settings)
    app.state.installed_languages = installed_languages(tessdata_dir(settings.tessdata_prefix))
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    for leaf in ROUTERS:
        app.include_router(leaf, prefix=PREFIX)
    # Innermost: sees every request as the routes would, after the checks above. Bound to the
    # app's own routes here, once they are all in: a direct route whose FastAPI route now takes
    # other parameters or dependencies stops the app from being made (DirectRouteDrift).
    app.user_middleware.append(Middleware(DirectRoutesMiddleware, routes=bind(app.routes, DIRECT_ROUTES)))
    return app


app = create_app()
