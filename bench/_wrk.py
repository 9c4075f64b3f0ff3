"""wrk as a library: one endpoint at a time, latencies from the Lua `done()` hook."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench._docs import require_tool

SCRIPT = Path(__file__).resolve().parent / "wrk" / "api.lua"
TIMEOUT_S = 10  # logins queue behind a few argon2 hashes at a time; wrk's default 2 s would cut them


@dataclass(frozen=True)
class Load:
    """What wrk sends: a method and path, and what goes with it."""

    name: str
    method: str = "GET"
    path: str = "/ping"
    body: str = ""  # see bench/wrk/api.lua: "", "create", "patch", "login"
    ids_file: Path | None = None
    cookie: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stats:
    """One measured wrk run; latencies in ms."""

    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def require_wrk(benchmark: str) -> str:
    return require_tool(benchmark, "wrk", "apt-get install wrk")


def version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)  # noqa: S607
    return (out.stdout or out.stderr).split("[", 1)[0].strip().removeprefix("wrk ").strip() or "unknown"


def start(base_url: str, load: Load, *, seconds: float, connections: int, cpu: int | None) -> subprocess.Popen[str]:
    """Start wrk (one thread, pinned to `cpu` when given); finish() collects it."""
    env = os.environ | {
        "BENCH_METHOD": load.method,
        "BENCH_PATH": load.path,
        "BENCH_BODY": load.body,
        "BENCH_COOKIE": load.cookie,
        "BENCH_IDS": str(load.ids_file or ""),
        **load.extra_env,
    }
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={TIMEOUT_S}s"]
    command += ["-s", str(SCRIPT), base_url + load.path.replace("{id}", "x")]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603


def finish(process: subprocess.Popen[str]) -> Stats:
    stdout, stderr = process.communicate()
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return Stats(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50=raw["p50_us"] / 1000,
        p95=raw["p95_us"] / 1000,
        p99=raw["p99_us"] / 1000,
        max=raw["max_us"] / 1000,
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]},
    )


def run(base_url: str, load: Load, *, seconds: float, connections: int, cpu: int | None) -> Stats:
    return finish(start(base_url, load, seconds=seconds, connections=connections, cpu=cpu))


def warm_then_measure(
    base_url: str, load: Load, *, warmup: float, seconds: float, connections: int, cpu: int | None
) -> Stats:
    """A discarded warm-up run (pools, caches, first-touch writes), then the measured one."""
    if warmup > 0:
        run(base_url, load, seconds=warmup, connections=connections, cpu=cpu)
    time.sleep(0.2)
    return run(base_url, load, seconds=seconds, connections=connections, cpu=cpu)
