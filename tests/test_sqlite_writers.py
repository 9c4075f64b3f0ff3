"""SQLite's writers take turns (app.db.sqlite_writers): concurrent large edits from several server
processes are each saved or refused with 503 `database_busy`, never a 500, and every edit that was
acknowledged is in the history."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import PASSWORD, unique_email
from tests.processes import Service, clean_env, free_port, wait_until_serving
from tests.texts import text_of

DOCS = "/api/v1/documents"
MiB = 1024 * 1024
EDITS = 16


def test_concurrent_large_edits_from_four_processes_are_saved_or_refused_never_lost(tmp_path: Path) -> None:
    port = free_port()
    # A busy timeout far below what 16 edits of 1 MiB take: each attempt of a writer that waits
    # for another process gives up quickly, so the retries are what keeps the edits.
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDED_WORKER="false", SQLITE_BUSY_TIMEOUT_MS="100")
    server = Service(
        ["serve", "--port", str(port), "--workers", "4"], env=env, cwd=tmp_path, log_path=tmp_path / "s.log"
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, base_url, within=180)  # four workers starting on a busy machine
        with httpx.Client(base_url=base_url, timeout=120) as browser:
            signed_up = browser.post("/api/v1/auth/signup", json={"email": unique_email("w"), "password": PASSWORD})
            assert signed_up.status_code == 201, signed_up.text
            document_id = browser.post(DOCS, json={"title": "shared", "content": "v1"}).json()["id"]
            contents = [f"edit{n} " + text_of(MiB, seed=n) for n in range(EDITS)]

            def put(content: str) -> httpx.Response:
                # Each edit on a connection of its own, so the four processes share them.
                with httpx.Client(base_url=base_url, timeout=120, cookies=browser.cookies) as one:
                    return one.put(f"{DOCS}/{document_id}", json={"title": "shared", "content": content})

            with ThreadPoolExecutor(EDITS) as pool:
                answers = list(pool.map(put, contents))

            statuses = [answer.status_code for answer in answers]
            assert set(statuses) <= {200, 503}, statuses
            for answer in answers:
                if answer.status_code == 503:
                    assert answer.json()["code"] == "database_busy"
                    assert int(answer.headers["retry-after"]) >= 1
            saved = {
                answer.json()["version"]: content
                for answer, content in zip(answers, contents, strict=True)
                if answer.status_code == 200
            }
            assert saved, statuses
            history = browser.get(f"{DOCS}/{document_id}/versions").json()
            # Version 1 and one version per acknowledged edit: none lost, none written twice.
            assert sorted(v["version"] for v in history) == list(range(1, len(saved) + 2))
            for version, content in saved.items():
                stored = browser.get(f"{DOCS}/{document_id}/versions/{version}").json()
                assert stored["content"] == content, version
    finally:
        server.stop(signal.SIGINT, to_group=False, timeout=30)
    assert "Traceback" not in server.log(), server.log()[-5000:]
