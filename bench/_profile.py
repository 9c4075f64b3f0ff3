"""py-spy under load for bench.api --profile: collapsed stacks, and where the samples went."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE = 200  # samples per second
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def start(pid: int, output: Path, *, seconds: float, cpu: int | None) -> subprocess.Popen[bytes]:
    """py-spy record without pausing the server: collapsed stacks of whichever thread holds the GIL."""
    command = ["uv", "run", "--with", "py-spy", "py-spy", "record", "--pid", str(pid), "--nonblocking", "--gil"]
    command += ["--rate", str(RATE), "--duration", str(max(1, round(seconds))), "--format", "raw", "-o", str(output)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


# What the samples were doing, by a frame anywhere on the stack (first match wins). Stacks that
# run inside SQLAlchemy's greenlet are cut at the greenlet, so these match frames near the leaf.
CONCERNS = [
    ("opening or closing a PostgreSQL connection", ("connect_utils", "__connect (", "Connection.close (asyncpg")),
    ("sync dependency hops to the thread pool", ("run_sync_in_worker_thread", "run_in_threadpool")),
    ("statement execution in asyncpg (bind, send, parse rows)", ("_prepare_and_execute",)),
    ("SQLAlchemy commit / rollback / close", ("Session.commit", "rollback", "Session.close", "_close_impl")),
    ("SQLAlchemy ORM flush (INSERT/UPDATE building)", ("Session.flush", "_flush (")),
    ("SQLAlchemy compile + cache key + result building", ("sqlalchemy/",)),
    ("Pydantic validation / response serialization", ("pydantic", "serialize_response", "jsonable_encoder")),
    ("FastAPI dependency solving and routing", ("fastapi/",)),
    ("Starlette / uvicorn HTTP handling", ("starlette/", "uvicorn/", "httptools")),
    ("logging", ("logging/", "(logging")),
]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    """py-spy already shortens paths to the import name: `asyncpg/connection.py`, `threading.py`."""
    short = _short(path)
    if short.startswith(("app/", "main.py", "lekhamudra")):
        return "app (Lekhamudra)"
    head = short.split("/", 1)[0].removesuffix(".py")
    return f"{head} (stdlib)" if head in sys.stdlib_module_names else head


@dataclass(frozen=True)
class Profile:
    samples: int
    expected: int  # RATE x seconds: what a fully busy thread would have given
    self_by_package: list[tuple[str, float]]
    self_by_function: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]
    concerns: list[tuple[str, float]]

    def markdown(self, title: str, top: int = 15) -> str:
        busy = 100 * self.samples / self.expected if self.expected else 0
        lines = [
            f"#### {title}",
            "",
            f"{self.samples} samples holding the GIL, of {self.expected} possible ({busy:.0f}% of one core).",
            "",
            "| concern (first match on the stack) | % |",
            "| --- | ---: |",
            *(f"| {name} | {pct:.1f} |" for name, pct in self.concerns),
            "",
            "| self time, by package | % |",
            "| --- | ---: |",
            *(f"| {name} | {pct:.1f} |" for name, pct in self.self_by_package[:12]),
            "",
            "| self time, by function | % |",
            "| --- | ---: |",
            *(f"| `{name}` | {pct:.1f} |" for name, pct in self.self_by_function[:top]),
            "",
            "| inclusive (on the stack), Lekhamudra's own frames | % |",
            "| --- | ---: |",
            *(f"| `{name}` | {pct:.1f} |" for name, pct in self.inclusive[:top]),
        ]
        return "\n".join(lines)


def analyze(raw: Path, seconds: float) -> Profile:
    """Self time by package and function; inclusive time of app/middleware/framework entry points."""
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    concerns: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            frames.append((match["func"], match["file"]) if match else (frame, ""))
        func, path = frames[-1]
        by_package[_package(path)] += count
        by_function[f"{func} ({_short(path)})"] += count
        seen = set()
        for func, path in frames:
            short = _short(path)
            if short.startswith(("app/", "main.py")) and func not in ("main", "serve", "<module>"):
                key = f"{func} ({short})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
        concern = next((name for name, marks in CONCERNS if any(m in stack for m in marks)), "other")
        concerns[concern] += count

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * n / total) for name, n in counter.most_common()] if total else []

    return Profile(total, round(RATE * seconds), pct(by_package), pct(by_function), pct(inclusive), pct(concerns))
