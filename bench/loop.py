"""Event loop under heavy documents: /ping and /auth/me latency while 5 MiB documents are written.

Run: uv run python -m bench.loop [--engines sqlite,postgresql] [--seconds 30] [--write]

For each engine, `uv run lekhamudra serve` (one worker, ENV=prod, as bench.api starts it) on a
fresh database: SQLite in a temporary folder, or a new database on 127.0.0.1:5432 (user
postgres), dropped at the end. A probe process (its own keep-alive connection) asks GET /ping and
GET /api/v1/auth/me in turn, one request every 20 ms, each latency counted from when its request
was due (a stall counts for every request it held back); first alone (the no-load figures), then
while one client, in a loop, creates a document of 5 MiB of distinct words, replaces its content
with another such text, and searches a word that every one of them holds (each search hits up to
20 of them). Prints p50/p99/max of each probe beside its no-load figures, and what the heavy
client did. Only `--write` replaces the "Event loop under heavy documents" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx
import orjson
from alembic import command

from app.db.migrate import alembic_config
from app.schemas.types import MAX_CONTENT_BYTES
from bench import _api_data as data
from bench._api_server import PROJECT, serve
from bench._docs import add_write_option, publish
from bench.api import revision

log = logging.getLogger("bench.loop")
SECTION = "## Event loop under heavy documents"
PROBES = {"GET /ping": "/ping", "GET /api/v1/auth/me": "/api/v1/auth/me"}
MARKER = "बजेट"  # in every heavy document's title and at the end of its content: what the search asks
TARGET_P99_MS = 100.0
PROBE_INTERVAL = 0.02  # seconds between probe requests (each probe every 40 ms)

_DEVANAGARI = "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
_SIGNS = ["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं", "्"]
_LATIN = "abcdefghijklmnopqrstuvwxyz"


def heavy_text(seed: int) -> str:
    """Just under 5 MiB (the most a document holds) of distinct Nepali and English words."""
    rng = random.Random(seed)  # noqa: S311 (reproducible text, not secrets)
    budget = MAX_CONTENT_BYTES - 64
    words: list[str] = []
    size = 0
    while True:
        if len(words) % 2:
            word = "".join(rng.choice(_LATIN) for _ in range(rng.randint(4, 9)))
        else:
            word = "".join(rng.choice(_DEVANAGARI) + rng.choice(_SIGNS) for _ in range(rng.randint(2, 4)))
        size += len(word.encode()) + 1
        if size > budget - len(MARKER.encode()):
            break
        words.append(word)
    words.append(MARKER)
    return " ".join(words)


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in ms."""
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return (float("nan"),) * 3
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], ms[-1]


def probe(base_url: str, cookie: str, stop: EventType, out: Connection) -> None:
    """In its own process, until `stop` is set: one request every PROBE_INTERVAL, each probe in
    turn, one at a time; then their latencies (seconds) through `out` ("ready" first, once the
    connection is open). A latency counts from when its request was due, not when it could be
    sent: a stall that holds back the requests behind it counts for each of them."""
    found: dict[str, list[float]] = {name: [] for name in PROBES}
    failures = 0
    names = itertools.cycle(PROBES.items())
    with httpx.Client(base_url=base_url, headers={"Cookie": cookie}, timeout=60) as client:
        client.get("/ping").raise_for_status()
        out.send("ready")
        due = time.perf_counter()
        while not stop.is_set():
            name, path = next(names)
            time.sleep(max(0.0, due - time.perf_counter()))
            response = client.get(path)
            found[name].append(time.perf_counter() - due)
            failures += response.status_code != 200
            due += PROBE_INTERVAL
    out.send((found, failures))


def measure_probes(base_url: str, cookie: str, seconds: float) -> dict[str, list[float]]:
    """The probe process's samples over `seconds` (counted from when it is ready)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    ours, theirs = context.Pipe(duplex=False)
    process = context.Process(target=probe, args=(base_url, cookie, stop, theirs), daemon=True)
    process.start()
    if ours.recv() != "ready":
        raise RuntimeError("the probe process did not start")
    time.sleep(seconds)
    stop.set()
    found, failures = ours.recv()
    process.join(timeout=30)
    if failures:
        raise RuntimeError(f"{failures} probe requests did not answer 200")
    return found


@dataclass
class Heavy:
    """What the heavy client did: seconds per operation, by kind."""

    seconds: dict[str, list[float]]
    errors: int = 0


def heavy_loop(base_url: str, cookie: str, texts: list[str], stop: threading.Event, done: Heavy) -> None:
    """Create, edit and search 5 MiB documents until `stop` is set. The bodies are encoded once
    beforehand, so that this client's own CPU (the machine's too) goes to sending them."""
    contents = [orjson.dumps(text) for text in texts]
    json_body = {"Content-Type": "application/json"}

    def timed(kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        began = time.perf_counter()
        response = client.request(method, path, **kwargs)
        done.seconds[kind].append(time.perf_counter() - began)
        done.errors += response.status_code >= 300
        return response

    with httpx.Client(base_url=base_url, headers={"Cookie": cookie}, timeout=300) as client:
        for i in itertools.count():
            if stop.is_set():
                return
            body = b'{"title": "%s %d", "content": %s}' % (MARKER.encode(), i, contents[i % len(texts)])
            created = timed("create", "POST", "/api/v1/documents", content=body, headers=json_body)
            if created.status_code == 201:
                path = f"/api/v1/documents/{orjson.loads(created.content)['id']}"
                edit = b'{"content": %s}' % contents[(i + 1) % len(texts)]
                timed("edit", "PATCH", path, content=edit, headers=json_body)
            timed("search", "GET", "/api/v1/search", params={"q": MARKER})


def sign_up(base_url: str) -> str:
    email = f"loop-{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.post(
        f"{base_url}/api/v1/auth/signup", json={"email": email, "password": "loop bench password"}, timeout=30
    )
    response.raise_for_status()
    return "; ".join(f"{k}={v}" for k, v in response.cookies.items())


@dataclass
class Result:
    engine: str
    idle: dict[str, list[float]]
    loaded: dict[str, list[float]]
    heavy: Heavy


def run_engine(
    engine: str, workdir: Path, texts: list[str], seconds: float, idle_seconds: float, project: Path
) -> Result:
    name = f"lekhamudra_bench_loop_{uuid.uuid4().hex[:8]}"
    if engine == "postgresql":
        url = asyncio.run(data.create_database(name))
    else:
        url = f"sqlite:///{workdir / name}.db"
        command.upgrade(alembic_config(url.replace("sqlite:", "sqlite+aiosqlite:")), "head")
    try:
        with serve(
            database_url=url, workers=1, pin=False, workdir=workdir, name=f"{engine}-server", project=project
        ) as server:
            cookie = sign_up(server.base_url)
            log.info("%s: probing with no load for %.0f s", engine, idle_seconds)
            idle = measure_probes(server.base_url, cookie, idle_seconds)
            heavy = Heavy({"create": [], "edit": [], "search": []})
            stop = threading.Event()
            worker = threading.Thread(target=heavy_loop, args=(server.base_url, cookie, texts, stop, heavy))
            worker.start()
            log.info("%s: probing while 5 MiB documents are created, edited and searched for %.0f s", engine, seconds)
            try:
                loaded = measure_probes(server.base_url, cookie, seconds)
            finally:
                stop.set()
                worker.join()
    finally:
        if engine == "postgresql":
            asyncio.run(data.drop_database(name))
    return Result(engine, idle, loaded, heavy)


def _ms(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def table(results: list[Result]) -> str:
    lines = [
        "| engine | probe | no load p50 / p99 / max (ms) | under load p50 / p99 / max (ms) | probes under load |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for name in PROBES:
            idle, loaded = percentiles(r.idle[name]), percentiles(r.loaded[name])
            mark = "" if loaded[1] < TARGET_P99_MS else " ✗"
            lines.append(f"| {r.engine} | {name} | {_ms(idle)} | {_ms(loaded)}{mark} | {len(r.loaded[name])} |")
    lines += ["", "| engine | heavy client: operation | done | p50 / max (s) |", "|---|---|---|---|"]
    for r in results:
        for kind, values in r.heavy.seconds.items():
            p50 = statistics.median(values) if values else float("nan")
            top = max(values) if values else float("nan")
            lines.append(f"| {r.engine} | {kind} | {len(values)} | {p50:.2f} / {top:.2f} |")
        if r.heavy.errors:
            lines.append(f"| {r.engine} | answers other than 2xx | {r.heavy.errors} | |")
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds under load, per engine")
    parser.add_argument("--idle-seconds", type=float, default=10, help="measured seconds with no load, per engine")
    parser.add_argument("--texts", type=int, default=4, help="distinct 5 MiB texts the heavy client cycles through")
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout whose server is measured")
    add_write_option(parser)
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    load_before, code = os.getloadavg()[0], revision()
    log.info("making %d texts of 5 MiB", args.texts)
    texts = [heavy_text(seed) for seed in range(args.texts)]
    with tempfile.TemporaryDirectory(prefix="lekhamudra-bench-loop-") as tmp:
        results = [run_engine(e, Path(tmp), texts, args.seconds, args.idle_seconds, args.project) for e in engines]
    command_line = " ".join(["uv run python -m bench.loop", *sys.argv[1:]])
    markdown = "\n".join(
        [
            SECTION,
            "",
            f"`{command_line}` at {code}, {platform.machine()} with {os.cpu_count()} cores, unpinned "
            f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after). Target: p99 under "
            f"{TARGET_P99_MS:.0f} ms under load (✗: missed).",
            "",
            table(results),
        ]
    )
    publish(SECTION, markdown, write=args.write)


if __name__ == "__main__":
    main()
