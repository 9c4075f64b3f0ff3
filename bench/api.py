"""API load: requests/s and p50/p95/p99 of the hot endpoints on the real server and PostgreSQL.

Run: uv run python -m bench.api [--workers 1] [--duration 20] [--warmup 5] [--connections 32] [--quick]
Writes the "API load" section of docs/benchmarks.md (one sub-table per workers/pinning variant).

Two fresh databases on 127.0.0.1:5432 (user postgres): one with 1 000 users and 100 000 documents,
the test user owning 1 000 of them, spread through the table; one with the same users and only the
test user's 1 000 documents (the same rows), to show whether list and get cost grows with the
table. `uv run lekhamudra serve` (ENV=prod, no embedded worker) serves each, pinned with
PostgreSQL to core 0 while wrk (one thread, keep-alive connections) runs on core 1. The test user
signs in once through the API; wrk sends its cookie. Databases are dropped at the end.

`--profile DIR` runs py-spy (`--gil`, collapsed stacks) on the server worker during each measured
run and writes DIR/<endpoint>.txt plus a summary (.md); `--only me,get` limits the endpoints.
They print their table; only `--write` (on a full run, not `--quick`) writes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import httpx

from app.core.config import Settings
from bench import _api_data as data
from bench import _profile, _wrk
from bench._api_server import LOAD_CPU, CpuMeter, Pinning, Server, pin_postgres, serve
from bench._docs import section_pattern
from bench._wrk import Load, Stats

log = logging.getLogger("bench.api")
PROJECT = Path(__file__).resolve().parent.parent
DOC = PROJECT / "docs" / "benchmarks.md"
SECTION = "## API load"
STORM_CONNECTIONS = 8
ENDPOINTS = ("ping", "me", "list", "get", "create", "patch", "login")
# (requests/s at least, p99 ms under) from the issue.
TARGETS = {
    "GET /ping": (8000, 10),
    "GET /api/v1/auth/me": (2500, 50),
    "GET /api/v1/documents/{id}": (2000, 50),
    "GET /api/v1/documents": (1000, 50),
    "POST /api/v1/documents": (800, 50),
}


@dataclass(frozen=True)
class Measured:
    load: Load
    stats: Stats
    cpu: dict[str, float]  # CPU seconds of "server" and "postgres", and "connections" opened, in the run


@dataclass(frozen=True)
class Plan:
    warmup: float
    duration: float
    connections: int
    cpu: int | None
    profile_dir: Path | None


_DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
_POOL, _DRIVER_POOL = _DEFAULTS.db_pool_size, _DEFAULTS.db_driver_pool_size


def sign_in(server: Server) -> str:
    """The Cookie header of a fresh session of the test user, made through the API."""
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": data.TEST_EMAIL, "password": data.TEST_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    me = httpx.get(f"{server.base_url}/api/v1/auth/me", cookies=response.cookies, timeout=10).json()
    if not me.get("authenticated"):
        raise RuntimeError(f"signed in, but /auth/me says {me}")
    return "; ".join(f"{k}={v}" for k, v in response.cookies.items())


def loads(cookie: str, ids_file: Path) -> dict[str, Load]:
    documents = "/api/v1/documents"
    return {
        "ping": Load("GET /ping"),
        "me": Load("GET /api/v1/auth/me", path="/api/v1/auth/me", cookie=cookie),
        "list": Load(f"GET {documents}", path=documents, cookie=cookie),
        "get": Load(f"GET {documents}/{{id}}", path=f"{documents}/{{id}}", ids_file=ids_file, cookie=cookie),
        "create": Load(f"POST {documents}", method="POST", path=documents, body="create", cookie=cookie),
        "patch": Load(
            f"PATCH {documents}/{{id}}",
            method="PATCH",
            path=f"{documents}/{{id}}",
            body="patch",
            ids_file=ids_file,
            cookie=cookie,
        ),
        "login": Load(
            "POST /api/v1/auth/login",
            method="POST",
            path="/api/v1/auth/login",
            body="login",
            extra_env={"BENCH_EMAIL": data.TEST_EMAIL, "BENCH_PASSWORD": data.TEST_PASSWORD},
        ),
    }


def view_all(server: Server, cookie: str, ids: list[uuid.UUID]) -> None:
    """Open each document once, so the measured GETs find their "recently viewed" row fresh.

    The first view of a document in 10 minutes also writes a recent row and an audit event;
    steady reading (the case measured) does not.
    """

    async def view() -> None:
        headers = {"Cookie": cookie}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client:
            for start in range(0, len(ids), 16):
                batch = [client.get(f"/api/v1/documents/{i}") for i in ids[start : start + 16]]
                for response in await asyncio.gather(*batch):
                    response.raise_for_status()

    began = time.perf_counter()
    asyncio.run(view())
    log.info("viewed the test user's %d documents once in %.1f s", len(ids), time.perf_counter() - began)


def measure(server: Server, database: str, load: Load, plan: Plan, label: str = "") -> Measured:
    if plan.warmup > 0:
        _wrk.run(server.base_url, load, seconds=plan.warmup, connections=plan.connections, cpu=plan.cpu)
    time.sleep(0.2)
    meter = CpuMeter(server, database)
    wrk = _wrk.start(server.base_url, load, seconds=plan.duration, connections=plan.connections, cpu=plan.cpu)
    spy = None
    if plan.profile_dir is not None and (workers := server.workers()):
        name = re.sub(r"[^a-z0-9]+", "-", load.name.lower()).strip("-")
        raw = plan.profile_dir / f"{name}.txt"
        spy = (_profile.start(workers[0].pid, raw, seconds=plan.duration - 1, cpu=plan.cpu), raw)
    stats = _wrk.finish(wrk)
    measured = Measured(load, stats, meter.used())
    if spy is not None:
        spy[0].wait(timeout=60)
        if spy[1].exists():
            report = _profile.analyze(spy[1], plan.duration - 1).markdown(load.name, top=25)
            (spy[1].with_suffix(".md")).write_text(report + "\n")
            log.info("%s", report)
    s = stats
    log.info(
        "%-30s %6.0f req/s  p50 %6.1f  p95 %6.1f  p99 %6.1f ms  errors %s  cpu server %.1fs postgres %.1fs  "
        "new PG connections %d%s",
        load.name,
        s.rps,
        s.p50,
        s.p95,
        s.p99,
        s.errors or 0,
        measured.cpu["server"],
        measured.cpu["postgres"],
        measured.cpu["connections"],
        label,
    )
    return measured


def storm(server: Server, database: str, me: Load, login: Load, plan: Plan) -> tuple[Measured, Stats]:
    """/auth/me at full load while 8 more connections sign in as fast as they can."""
    total = plan.warmup + plan.duration + 2
    hammer = _wrk.start(server.base_url, login, seconds=total, connections=STORM_CONNECTIONS, cpu=plan.cpu)
    try:
        quiet = Plan(plan.warmup, plan.duration, plan.connections, plan.cpu, None)
        measured = measure(server, database, me, quiet, label="  (8 clients hammer login)")
    finally:
        logins = _wrk.finish(hammer)
    log.info("%-32s %8.0f req/s  p99 %6.1f ms (the 8 hammering clients)", login.name, logins.rps, logins.p99)
    return measured, logins


@dataclass
class Results:
    main: dict[str, Measured]
    small: dict[str, Measured]
    storm: tuple[Measured, Stats] | None
    seeded: data.Seeded
    pg: dict[str, str]
    pinning: Pinning


async def prepare(args: argparse.Namespace, suffix: str) -> tuple[data.Seeded, data.Seeded, str, str]:
    hashed = await asyncio.to_thread(data.password_hash)
    big, small = f"lekhamudra_bench_api_{suffix}", f"lekhamudra_bench_api_{suffix}_small"
    big_url, small_url = await data.create_database(big), await data.create_database(small)
    began = time.perf_counter()
    seeded = await data.seed(big, big_url, users=args.users, documents=args.documents, hashed=hashed)
    log.info("seeded %s documents in %.1f s", f"{args.documents:,}", time.perf_counter() - began)
    small_seeded = await data.seed(
        small, small_url, users=args.users, documents=data.TEST_USER_DOCUMENTS, hashed=hashed
    )
    if seeded.test_document_ids != small_seeded.test_document_ids:
        raise RuntimeError("the test user's documents differ between the two databases")
    return seeded, small_seeded, big_url, small_url


def run(args: argparse.Namespace, workdir: Path) -> Results:
    suffix = uuid.uuid4().hex[:8]
    names = [f"lekhamudra_bench_api_{suffix}", f"lekhamudra_bench_api_{suffix}_small"]
    try:
        seeded, small_seeded, big_url, small_url = asyncio.run(prepare(args, suffix))
        pg = asyncio.run(data.server_facts(big_url))
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(map(str, seeded.test_document_ids)) + "\n")
        with pin_postgres(args.pin) as pinning:
            cpu = LOAD_CPU if pinning.pinned else None
            plan = Plan(args.warmup, args.duration, args.connections, cpu, args.profile)
            small: dict[str, Measured] = {}
            if "growth" in args.only:
                with serve(
                    database_url=small_url, workers=args.workers, pin=pinning.pinned, workdir=workdir, name="small"
                ) as server:
                    load = loads(sign_in(server), ids_file)
                    log.info("-- %s documents in the table", f"{small_seeded.documents:,}")
                    small = {key: measure(server, names[1], load[key], plan) for key in ("list", "get")}
            main: dict[str, Measured] = {}
            with serve(
                database_url=big_url, workers=args.workers, pin=pinning.pinned, workdir=workdir, name="main"
            ) as server:
                cookie = sign_in(server)
                load = loads(cookie, ids_file)
                view_all(server, cookie, seeded.test_document_ids)
                log.info("-- %s documents in the table", f"{seeded.documents:,}")
                for key in ENDPOINTS:
                    if key in args.only:
                        main[key] = measure(server, names[0], load[key], plan)
                stormed = None
                if "storm" in args.only:
                    stormed = storm(server, names[0], load["me"], load["login"], plan)
        return Results(main, small, stormed, seeded, pg, pinning)
    finally:
        for name in names:
            asyncio.run(data.drop_database(name))


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(iter(re.findall(r"model name\s*:\s*(.+)", cpuinfo)), platform.processor() or "unknown CPU")
    return f"nproc {os.cpu_count()}, {model.strip()}, Python {platform.python_version()}"


def revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True, check=False).stdout  # noqa: S603, S607

    commit, dirty = git("rev-parse", "--short", "HEAD").strip(), git("status", "--porcelain")
    changed = [line[3:] for line in dirty.splitlines() if not line[3:].startswith(("bench/", "docs/", "tests/"))]
    return f"commit {commit}" + (f" plus uncommitted changes ({', '.join(changed)})" if changed else "")


def _row(m: Measured, ping: Measured | None) -> str:
    s, target = m.stats, TARGETS.get(m.load.name)
    ratio = f"{s.rps / ping.stats.rps:.2f}x | {s.p99 / ping.stats.p99:.1f}x" if ping else "- | -"
    goal, verdict = "-", "-"
    if target:
        goal = f"≥ {target[0]:,} req/s, p99 < {target[1]} ms"
        verdict = "yes" if s.rps >= target[0] and s.p99 < target[1] else "**no**"
    per_request = f"{1000 * m.cpu['server'] / s.requests:.2f} + {1000 * m.cpu['postgres'] / s.requests:.2f}"
    errors = ", ".join(f"{k} {v}" for k, v in s.errors.items()) or "0"
    return (
        f"| `{m.load.name}` | {s.rps:,.0f} | {s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | {ratio} | {goal} | {verdict} "
        f"| {per_request} | {m.cpu['connections'] / s.seconds:,.0f} | {errors} |"
    )


def _change(before: float, after: float) -> str:
    return f"{100 * (after - before) / before:+.0f}%" if before else "-"


def subsection(results: Results, args: argparse.Namespace, command: str, load: tuple[float, float], code: str) -> str:
    r, pg, seeded = results, results.pg, results.seeded
    heading = f"### {args.workers} worker{'s' if args.workers > 1 else ''}, " + (
        "pinned" if r.pinning.pinned else "unpinned"
    )
    lines = [
        heading,
        "",
        f"`{command}` ({datetime.now(UTC).date()}): {args.duration:g} s per endpoint after {args.warmup:g} s of "
        f"warm-up, {args.connections} keep-alive connections from one wrk thread.",
        "",
        f"Machine: {machine()}; PostgreSQL {pg['version']} (shared_buffers {pg['shared_buffers']}, "
        f"synchronous_commit {pg['synchronous_commit']}); uvicorn {version('uvicorn')} with {args.workers} "
        f"worker{'s' if args.workers > 1 else ''} (DB_POOL_SIZE {_POOL} + {max(2, _POOL // 2)} overflow, "
        f"DB_DRIVER_POOL_SIZE {_DRIVER_POOL} each); "
        f"wrk {_wrk.version()}; "
        f"{r.pinning.describe()}. Code: {code}. Load average {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        f"Data: {seeded.users:,} users, {seeded.documents:,} documents ({seeded.mean_content_bytes / 1024:.1f} KiB "
        f"of content on average, database {pg['size']} before the run), the test user owning "
        f"{len(seeded.test_document_ids):,} of them.",
        "",
        "| endpoint | req/s | p50 ms | p95 ms | p99 ms | req/s vs /ping | p99 vs /ping | target | met "
        "| CPU ms/request, server + PostgreSQL | new PG connections/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | --- |",
    ]
    ping = r.main.get("ping")
    lines += [_row(m, ping) for m in r.main.values()]
    lines.append("")
    if r.storm:
        me, logins = r.storm
        alone = f" (alone: {r.main['me'].stats.rps:,.0f} req/s, p99 {r.main['me'].stats.p99:.1f} ms)"
        lines.append(
            f"- `GET /api/v1/auth/me` while {STORM_CONNECTIONS} more connections sign in non-stop: "
            f"{me.stats.rps:,.0f} req/s, p50 {me.stats.p50:.1f} ms, **p99 {me.stats.p99:.1f} ms**"
            f"{alone if 'me' in r.main else ''}; meanwhile {logins.rps:,.0f} logins/s, p99 {logins.p99:.0f} ms."
        )
    if r.small:
        lines.append(
            f"- Cost against table size, the test user's {data.TEST_USER_DOCUMENTS:,} documents (the same rows) "
            f"in a table of {data.TEST_USER_DOCUMENTS:,} vs {seeded.documents:,} documents:"
        )
        lines += ["", "  | endpoint | table | req/s | p50 ms | p99 ms |", "  | --- | ---: | ---: | ---: | ---: |"]
        for key, small in r.small.items():
            if key not in r.main:
                continue
            big = r.main[key]
            for size, m in ((data.TEST_USER_DOCUMENTS, small), (seeded.documents, big)):
                s = m.stats
                lines.append(f"  | `{m.load.name}` | {size:,} | {s.rps:,.0f} | {s.p50:.1f} | {s.p99:.1f} |")
            lines.append(
                f"  | change | | {_change(small.stats.rps, big.stats.rps)} | {_change(small.stats.p50, big.stats.p50)} "
                f"| {_change(small.stats.p99, big.stats.p99)} |"
            )
        lines.append("")
    return "\n".join(lines)


INTRO = f"""{SECTION}

`uv run python -m bench.api` (see its docstring): the real server (`uv run lekhamudra serve`,
ENV=prod, no embedded worker, LOG_LEVEL=WARNING) on a fresh PostgreSQL database seeded with COPY,
driven by wrk with `bench/wrk/api.lua` (percentiles from wrk's `done()` hook; a closed loop, so
latency under overload shows up as lower req/s rather than as queueing time). The test user signs
in once through the API; reads and writes send that session cookie and no Origin header. `GET
/documents/{{id}}` and `PATCH` rotate over the test user's 1 000 documents (each was opened once
before the runs, so the GETs find their "recently viewed" row fresh and only read, as in steady
use; a first view in 10 minutes also writes that row and an audit event); `POST` creates documents of
about 2 KiB; `PATCH` changes the content (a new version, audit event and recent row each time);
logins send the right password (argon2id, at most 4 hashes at once per process). "vs /ping" is
against `GET /ping` in the same run. CPU ms/request is CPU time of the server's processes, and of
this database's PostgreSQL backends (those alive at the end of the run), over the measured run
divided by its requests: unlike req/s it does not depend on what else the machine was running.
"New PG connections/s" counts connections the server opened to PostgreSQL during the run
(`pg_stat_database.sessions`): the pool (DB_POOL_SIZE + half as many overflow) closes an overflow
connection as soon as it is returned, so demand above the pool size opens and closes connections all the time.
"""


def write_section(heading_block: str, doc: Path = DOC) -> None:
    """Replace (or add) this variant's sub-table in the API load section; leave everything else alone."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    found = section_pattern(SECTION).search(text)
    parts = re.split(r"(?m)^(?=### )", found.group(0)) if found else []
    variants = [p.rstrip("\n") for p in parts[1:]]
    heading = heading_block.split("\n", 1)[0]
    variants = [heading_block if v.split("\n", 1)[0] == heading else v for v in variants]
    if heading_block not in variants:
        variants.append(heading_block)
    section = INTRO + "\n" + "\n\n".join(variants) + "\n"
    if found:
        text = text[: found.start()] + section + ("\n" if text[found.end() :] else "") + text[found.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=5, help="discarded seconds before each measurement")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--documents", type=int, default=100_000, help="documents in the large database")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per endpoint, 10 000 documents")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="leave CPU affinity alone")
    parser.add_argument(
        "--write",
        action="store_true",
        help="also put a full run in docs/benchmarks.md (default: print only)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy each endpoint of the main run into this directory")
    parser.add_argument(
        "--only",
        default=",".join([*ENDPOINTS, "storm", "growth"]),
        help=f"comma-separated subset of {', '.join(ENDPOINTS)}, storm, growth (default: all)",
    )
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    _wrk.require_wrk("bench.api")
    if not shutil.which("uv"):
        raise SystemExit("bench.api needs uv on PATH")
    if args.quick:
        args.duration, args.warmup, args.documents = 2, 1, min(args.documents, 10_000)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    load_before, code = os.getloadavg()[0], revision()  # the code the server will run, as of now
    workdir = Path(tempfile.mkdtemp(prefix="lekhamudra-bench-api-"))
    try:
        results = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    command = " ".join(["uv run python -m bench.api", *sys.argv[1:]])
    markdown = subsection(results, args, command, (load_before, os.getloadavg()[0]), code)
    log.info("\n%s", markdown)
    if not args.write or args.quick or args.profile or args.only != {*ENDPOINTS, "storm", "growth"}:
        log.info("(printed only: --write puts a full run in %s)", DOC.relative_to(PROJECT))
    else:
        write_section(markdown)
        log.info("written to %s", DOC.relative_to(PROJECT))


if __name__ == "__main__":
    main()
