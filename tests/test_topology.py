"""The production topology on one machine, without Docker: two API processes and two OCR workers
sharing PostgreSQL, a Redis queue and S3-compatible storage (moto's server). A user signs up on
one API process, uploads a Nepali scan, follows its OCR on the other, and finds it by search on
both."""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ocr.pages import NEPALI_NOTICE, render_page
from tests.processes import Service, clean_env, free_port, png_bytes, run_cli, wait_for, wait_until_serving
from tests.storage.support import BUCKET


@pytest.fixture
def topology(tmp_path: Path, postgres_url: str, redis_url: str, s3_endpoint: str) -> Iterator[list[str]]:
    """Start 2 API processes + 2 workers; yield the two API base URLs."""
    variables = {
        "DATABASE_URL": postgres_url,
        "QUEUE_URL": redis_url,
        "STORAGE_URL": f"s3://{BUCKET}/topology",
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "S3_ALLOW_HTTP": "true",
        "EMBEDDED_WORKER": "false",
        "ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(32),  # one for both API processes, as a deployment has
        "COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
    }
    migrated = run_cli("db", "upgrade", env=clean_env(**variables, DATA_DIR=str(tmp_path / "migrate")), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    services: list[Service] = []
    urls: list[str] = []
    try:
        for n in (1, 2):
            port = free_port()
            env = clean_env(**variables, DATA_DIR=str(tmp_path / f"api{n}"))
            services.append(
                Service(["serve", "--port", str(port)], env=env, cwd=tmp_path, log_path=tmp_path / f"api{n}.log")
            )
            urls.append(f"http://127.0.0.1:{port}")
        for n in (1, 2):
            env = clean_env(**variables, DATA_DIR=str(tmp_path / f"worker{n}"))
            services.append(
                Service(["worker", "--workers", "1"], env=env, cwd=tmp_path, log_path=tmp_path / f"worker{n}.log")
            )
        for url, service in zip(urls, services, strict=False):
            wait_until_serving(service, url)
        yield urls
    finally:
        for service in services:
            service.stop(signal.SIGINT, timeout=15)


def test_signup_upload_ocr_and_search_across_two_api_processes_and_two_workers(topology: list[str]) -> None:
    api_a, api_b = topology
    page, _truth = render_page(NEPALI_NOTICE[:4])
    with httpx.Client(base_url=api_a, timeout=30) as a:
        signup = a.post(
            "/api/v1/auth/signup", json={"email": "topology@example.com", "password": "correct horse battery"}
        )
        assert signup.status_code == 201, signup.text
        uploaded = a.post("/api/v1/documents/upload", files={"file": ("सूचना.png", png_bytes(page))})
        assert uploaded.status_code == 202, uploaded.text
        doc_id = uploaded.json()["id"]

        with httpx.Client(base_url=api_b, timeout=30, cookies=a.cookies) as b:
            assert b.get("/api/v1/auth/me").json()["authenticated"] is True

            def ocr_done() -> dict | None:
                ocr = b.get(f"/api/v1/documents/{doc_id}/ocr").json()
                assert ocr["status"] != "failed", ocr
                return ocr if ocr["status"] == "done" else None

            ocr = wait_for(ocr_done, within=120, what="OCR to finish", interval=0.5)
            assert ocr["pages_total"] == 1 and "नेपाल सरकार" in ocr["pages"][0]["text"]

            for client in (a, b):
                results = client.get("/api/v1/search", params={"q": "मन्त्रालय"}).json()
                assert [item["document"]["id"] for item in results["items"]] == [doc_id]
            assert b.get(f"/api/v1/documents/{doc_id}/file").content == png_bytes(page)
