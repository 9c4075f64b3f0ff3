"""Metrics, structured logs and trusted proxies."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from app.core.logging import JsonFormatter, _RequestIdFilter, request_id_var
from tests.conftest import PASSWORD, unique_email

DOCS = "/api/v1/documents"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, alice: dict) -> None:
    doc = (await client.post(DOCS, json={"title": "x"})).json()
    await client.get(f"{DOCS}/{doc['id']}")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'lekhamudra_http_requests_total{method="GET",route="/api/v1/documents/{document_id}",status="200"}' in text
    assert doc["id"] not in text  # ids never become label values
    assert "lekhamudra_http_request_duration_seconds_bucket" in text
    assert "lekhamudra_queue_depth" in text
    assert "lekhamudra_ocr_seconds_per_page" in text


async def test_metrics_count_ocr_jobs_by_status(client: httpx.AsyncClient, alice: dict) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (32, 32), 255).save(buffer, format="PNG")
    await client.post(f"{DOCS}/upload", files={"file": ("a.png", buffer.getvalue())})

    text = (await client.get("/metrics")).text

    assert 'lekhamudra_ocr_jobs{status="queued"} 1.0' in text


async def test_metrics_are_refused_to_non_loopback_clients(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as outsider:
        assert (await outsider.get("/metrics")).status_code == 404


@pytest.mark.parametrize("settings", [{"metrics_token": "s3cret-metrics"}], indirect=True)
async def test_with_a_metrics_token_only_its_bearer_may_scrape(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404
    assert (await client.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 404
    assert (await client.get("/metrics", headers={"authorization": "Bearer s3cret-metrics"})).status_code == 200


def test_json_logs_carry_the_request_id() -> None:
    record = logging.LogRecord("lekhamudra.request", logging.INFO, __file__, 1, "GET %s 200", ("/ping",), None)
    token = request_id_var.set("abc123")
    try:
        _RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "GET /ping 200"
    assert entry["request_id"] == "abc123"
    assert entry["level"] == "INFO" and entry["logger"] == "lekhamudra.request"


async def _signup_ip(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    await client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD}, headers=headers)
    return (await client.get("/api/v1/auth/sessions")).json()[0]["ip"]


async def test_forwarded_headers_are_ignored_without_trusted_proxies(client: httpx.AsyncClient) -> None:
    assert await _signup_ip(client, {"x-forwarded-for": "203.0.113.9"}) == "127.0.0.1"


@pytest.mark.parametrize("settings", [{"trusted_proxies": "127.0.0.1"}], indirect=True)
async def test_a_trusted_proxy_supplies_the_client_address(client: httpx.AsyncClient) -> None:
    assert await _signup_ip(client, {"x-forwarded-for": "203.0.113.9"}) == "203.0.113.9"
