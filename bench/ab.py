"""A/B: this checkout against another revision, on one database, in alternating short runs.

Run: uv run python -m bench.ab --base HEAD [--only ping,me,get] [--rounds 8] [--seconds 3]

On the machines this project is measured on, throughput drifts within minutes (a shared host)
by more than most changes are worth (docs/benchmarks.md), so two `bench.api` runs one after the
other cannot tell a change from the drift. Here both servers run at once on one database (seeded as
`bench.api` seeds it: 1 000 users, the test user owning 1 000 of `--documents`), pinned with
PostgreSQL to core 0, and wrk (core 1) loads one endpoint on one server, then the other, then the
first again, `--rounds` times: drift falls on both alike. The base revision is checked out in a
temporary git worktree with its own environment (`uv run` there). Reported per endpoint: the
median of the rounds' requests/s and CPU per request (server + PostgreSQL) for each side, and
the ratio head/base, with the rounds' spread. Writes nothing to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench import _api_data as data
from bench import _wrk
from bench._api_server import LOAD_CPU, PROJECT, CpuMeter, pin_postgres, serve
from bench.api import loads, sign_in, view_all

log = logging.getLogger("bench.ab")


def worktree(revision: str, into: Path) -> Path:
    """`revision` checked out (detached) under `into`; removed by `drop_worktree`."""
    path = into / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), revision], cwd=PROJECT, check=True)  # noqa: S603, S607
    subprocess.run(["uv", "sync", "--locked", "--quiet"], cwd=path, check=True)  # noqa: S607
    return path


def drop_worktree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=PROJECT, check=False)  # noqa: S603, S607


def _median_spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="the revision to compare this checkout with")
    parser.add_argument("--only", default="ping,me,list,get,create", help="endpoints, as in bench.api")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--documents", type=int, default=10_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _wrk.require_wrk("bench.ab")
    keys = [key.strip() for key in args.only.split(",") if key.strip()]

    name = f"lekhamudra_bench_ab_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        base = worktree(args.base, workdir)
        stack.callback(drop_worktree, base)
        url = asyncio.run(data.create_database(name))
        stack.callback(lambda: asyncio.run(data.drop_database(name)))
        hashed = data.password_hash()
        seeded = asyncio.run(data.seed(name, url, users=1_000, documents=args.documents, hashed=hashed))
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(map(str, seeded.test_document_ids)) + "\n")
        pinning = stack.enter_context(pin_postgres(True))
        cpu = LOAD_CPU if pinning.pinned else None
        servers = {
            "base": stack.enter_context(
                serve(database_url=url, workers=1, pin=pinning.pinned, workdir=workdir, name="base", project=base)
            ),
            "head": stack.enter_context(
                serve(database_url=url, workers=1, pin=pinning.pinned, workdir=workdir, name="head")
            ),
        }
        endpoints = {side: loads(sign_in(server), ids_file) for side, server in servers.items()}
        view_all(servers["head"], endpoints["head"]["me"].cookie, seeded.test_document_ids)
        results: dict[str, dict[str, list[tuple[float, float]]]] = {key: {"base": [], "head": []} for key in keys}
        for key in keys:
            for side, server in servers.items():  # warm both
                _wrk.run(server.base_url, endpoints[side][key], seconds=2, connections=args.connections, cpu=cpu)
            for round_ in range(args.rounds):
                order = ("base", "head") if round_ % 2 == 0 else ("head", "base")
                for side in order:
                    time.sleep(0.2)
                    meter = CpuMeter(servers[side], name)
                    stats = _wrk.run(
                        servers[side].base_url,
                        endpoints[side][key],
                        seconds=args.seconds,
                        connections=args.connections,
                        cpu=cpu,
                    )
                    used = meter.used()
                    ms = 1000 * (used["server"] + used["postgres"]) / max(stats.requests, 1)
                    results[key][side].append((stats.rps, ms))
            base_rps = statistics.median(r for r, _ in results[key]["base"])
            head_rps = statistics.median(r for r, _ in results[key]["head"])
            log.info("%s: base %.0f req/s, head %.0f req/s (%.2fx)", key, base_rps, head_rps, head_rps / base_rps)

    lines = [
        f"A/B: head (this checkout) vs base ({args.base}), {args.rounds} alternating rounds of {args.seconds:g} s",
        "| endpoint | base req/s | head req/s | head/base | base CPU ms/req | head CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, sides in results.items():
        rps = {side: [r for r, _ in runs] for side, runs in sides.items()}
        cost = {side: [c for _, c in runs] for side, runs in sides.items()}
        ratio = statistics.median(rps["head"]) / statistics.median(rps["base"])
        lines.append(
            f"| {endpoints['head'][key].name} | {_median_spread(rps['base'])} | {_median_spread(rps['head'])} "
            f"| {ratio:.2f}x | {statistics.median(cost['base']):.3f} | {statistics.median(cost['head']):.3f} |"
        )
    log.info("\n%s", "\n".join(lines))


if __name__ == "__main__":
    main()
