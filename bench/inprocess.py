"""CPU per request of one endpoint, the app called as ASGI in a loop (no server, no network).

Run: uv run python -m bench.inprocess get   (or me, list, ping)

On a fresh, migrated PostgreSQL database (127.0.0.1:5432, or TEST_DATABASE_URL's server), signs a
user up, creates one document, then sends the same GET 7 x 1 000 times straight to the app and
prints this process's CPU per request (min and median of the 7 rounds). PostgreSQL's own CPU is
not counted. Run it in two checkouts one after the other to compare them without a load
generator's noise. Prints only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from main import create_app
from tests.conftest import make_settings
from tests.processes import postgres_database

log = logging.getLogger("bench.inprocess")


async def run(url: str, tmp: Path, endpoint: str) -> None:
    app = create_app(make_settings(url, tmp))
    async with LifespanManager(app):
        t = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=t, base_url="http://testserver") as c:
            r = await c.post(
                "/api/v1/auth/signup",
                json={"email": "bench-user@example.com", "password": "correct horse battery staple 9"},
            )
            assert r.status_code == 201, r.text
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            doc = (await c.post("/api/v1/documents", json={"title": "t", "content": "hello world"})).json()
        paths = {
            "get": f"/api/v1/documents/{doc['id']}",
            "me": "/api/v1/auth/me",
            "list": "/api/v1/documents",
            "ping": "/ping",
        }
        path = paths[endpoint]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        statuses = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        rounds = []
        for _ in range(7):
            began = time.process_time()
            for _ in range(1000):
                await app(dict(scope), receive, send)
            rounds.append((time.process_time() - began) / 1000 * 1e6)
        assert set(statuses) == {200}, set(statuses)
        log.info(
            "%s: %d µs of CPU per request (min of 7 x 1000), median %d",
            endpoint,
            round(min(rounds)),
            round(statistics.median(rounds)),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoint", nargs="?", default="get", choices=["get", "me", "list", "ping"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp, postgres_database(Path(tmp)) as url:
        asyncio.run(run(url, Path(tmp), args.endpoint))


if __name__ == "__main__":
    main()
