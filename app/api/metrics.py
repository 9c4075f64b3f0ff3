"""GET /metrics in Prometheus format: requests and latency by route template (this process, or
all server workers when PROMETHEUS_MULTIPROC_DIR is set), plus OCR jobs by status, queue depth and
OCR seconds per page read from the database and the queue at scrape time."""

from __future__ import annotations

import hmac
import ipaddress
import os
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.core.errors import NotFound
from app.crud import ocr as ocr_crud

router = APIRouter(include_in_schema=False)

REQUESTS = Counter("lekhamudra_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "lekhamudra_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Each (method, route, status)'s counter and histogram, looked up once: `labels()` costs more
# than the increment. Routes are templates, so the keys are few.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
    series[0].inc()
    series[1].observe(seconds)


def is_operator(request: Request) -> bool:
    """Who may read operational detail (/metrics, /health's components): with METRICS_TOKEN, a
    request bearing it; without, a loopback client."""
    token = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _job_metrics(request: Request) -> bytes:
    registry = CollectorRegistry()
    jobs = Gauge("lekhamudra_ocr_jobs", "OCR jobs by status", ["status"], registry=registry)
    depth = Gauge("lekhamudra_queue_depth", "Tasks waiting in the queue", registry=registry)
    per_page = Gauge(
        "lekhamudra_ocr_seconds_per_page",
        "Mean OCR seconds per page, jobs finished in the last hour",
        registry=registry,
    )
    state = request.app.state
    async with state.db.unit_of_work(write=False) as session:
        for status, count in (await ocr_crud.count_jobs_by_status(session=session)).items():
            jobs.labels(status).set(count)
        since = state.clock() - timedelta(hours=1)
        per_page.set(await ocr_crud.seconds_per_page_since(session=session, since=since))
    depth.set(await state.queue.pending())
    return generate_latest(registry)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not is_operator(request):
        raise NotFound("Not found")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + await _job_metrics(request)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
