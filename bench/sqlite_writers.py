"""How many concurrent 1 MiB edits four server processes on SQLite sustain without a refusal.

`uv run python -m bench.sqlite_writers` starts `lekhamudra serve --workers 4` on a SQLite file
(no embedded worker), signs a user up, creates one document, then for each size in `--at-once`
sends that many PUTs of `--mib` MiB of distinct text to it at once, with no version (each is
applied on top of the others), each on a connection of its own so that the four processes share
them. Reported per size: edits saved (200), refused with 503 `database_busy`, answered with any
other status (a 500 among them), acknowledged edits missing from the document's history (must be
0), the slowest answer and the edits saved per second. `--project` runs the server of another
checkout (to measure a "before"). Prints a table; `--write` puts it in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._api_server import PROJECT, Server, serve
from bench._docs import add_write_option, publish

log = logging.getLogger("bench.sqlite_writers")
SECTION = "## SQLite: concurrent large edits"
DOCS = "/api/v1/documents"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    at_once: int
    saved: int
    refused: int
    other: dict[int, int]
    lost: int
    slowest_s: float
    per_second: float


def _text(size: int, seed: int) -> str:
    words = random.Random(seed)  # noqa: S311  # filler text
    parts, length = [f"edit{seed}"], 0
    while length < size:
        word = "".join(words.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(words.randint(3, 10)))
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


def sign_up(server: Server) -> httpx.Cookies:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        client.post("/api/v1/auth/signup", json={"email": email, "password": "writers-" + uuid.uuid4().hex})
        client.get("/api/v1/auth/me").raise_for_status()
        return client.cookies


def measure(server: Server, cookies: httpx.Cookies, at_once: int, size: int, seed: int) -> Run:
    with httpx.Client(base_url=server.base_url, timeout=300, cookies=cookies) as client:
        created = client.post(DOCS, json={"title": f"{at_once} at once", "content": "v1"})
        created.raise_for_status()
        document_id = created.json()["id"]
        contents = [_text(size, seed + n) for n in range(at_once)]

        def put(content: str) -> tuple[int, float, int | None]:
            began = time.perf_counter()
            with httpx.Client(base_url=server.base_url, timeout=300, cookies=cookies) as one:
                answer = one.put(f"{DOCS}/{document_id}", json={"title": "edited", "content": content})
            version = answer.json().get("version") if answer.status_code == 200 else None
            return answer.status_code, time.perf_counter() - began, version

        began = time.perf_counter()
        with ThreadPoolExecutor(at_once) as pool:
            answers = list(pool.map(put, contents))
        elapsed = time.perf_counter() - began
        saved = {version: content for (status, _, version), content in zip(answers, contents, strict=True) if version}
        lost = 0
        for version, content in saved.items():
            stored = client.get(f"{DOCS}/{document_id}/versions/{version}")
            lost += stored.status_code != 200 or stored.json()["content"] != content
    statuses = [status for status, _, _ in answers]
    other: dict[int, int] = {}
    for status in statuses:
        if status not in (200, 503):
            other[status] = other.get(status, 0) + 1
    return Run(
        at_once=at_once,
        saved=len(saved),
        refused=statuses.count(503),
        other=other,
        lost=lost,
        slowest_s=max(seconds for _, seconds, _ in answers),
        per_second=len(saved) / elapsed,
    )


def report(runs: list[Run], command: str, settings: dict[str, str], project: Path) -> str:
    lines = [
        SECTION,
        "",
        f"`{command}` ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} after the run; server: {project.name},"
        f" settings: {', '.join(f'{k}={v}' for k, v in settings.items())}).",
        "",
        "| edits at once | saved (200) | refused (503) | other answers | acknowledged but lost | slowest s | saved/s |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for run in runs:
        other = ", ".join(f"{count} x {status}" for status, count in sorted(run.other.items())) or "none"
        lines.append(
            f"| {run.at_once} | {run.saved} | {run.refused} | {other} | {run.lost} | {run.slowest_s:.1f}"
            f" | {run.per_second:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at-once", type=int, nargs="+", default=[4, 8, 16, 24, 32], help="edits sent together")
    parser.add_argument("--mib", type=float, default=1.0, help="size of each edit's content")
    parser.add_argument("--workers", type=int, default=4, help="server processes")
    parser.add_argument("--busy-timeout-ms", type=int, help="SQLITE_BUSY_TIMEOUT_MS (default: the server's)")
    parser.add_argument("--write-wait-ms", type=int, help="SQLITE_WRITE_WAIT_MS (default: the server's)")
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout whose server runs")
    add_write_option(parser)
    args = parser.parse_args()

    settings = {"AUTO_MIGRATE": "true"}  # a fresh SQLite file: the server makes its schema
    if args.busy_timeout_ms is not None:
        settings["SQLITE_BUSY_TIMEOUT_MS"] = str(args.busy_timeout_ms)
    if args.write_wait_ms is not None:
        settings["SQLITE_WRITE_WAIT_MS"] = str(args.write_wait_ms)
    workdir = Path(tempfile.mkdtemp(prefix="lekhamudra-bench-writers-"))
    runs = []
    try:
        database_url = f"sqlite:///{workdir / 'writers.db'}"
        name = "writers"
        with serve(
            database_url=database_url,
            workers=args.workers,
            pin=False,
            workdir=workdir,
            name=name,
            project=args.project.resolve(),
            settings=settings,
        ) as server:
            cookies = sign_up(server)
            measure(server, cookies, 2, MiB // 16, seed=0)  # warm-up: lazy imports, pools
            for number, at_once in enumerate(args.at_once, 1):
                run = measure(server, cookies, at_once, int(args.mib * MiB), seed=number * 1000)
                log.info("%d at once: %s", at_once, run)
                runs.append(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    command = " ".join(["uv run python -m bench.sqlite_writers", *sys.argv[1:]])
    publish(SECTION, report(runs, command, settings, args.project.resolve()), write=args.write)


if __name__ == "__main__":
    main()
