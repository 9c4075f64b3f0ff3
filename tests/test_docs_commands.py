"""Every command the README and docs/ show works as written.

The README's tour runs whole, with bash and curl, against a real `lekhamudra serve` (on a free port
instead of 8000: the only change made to it). The quick start's two commands are the ones CI and
this test run. Every other `uv run …` line of every page is checked to exist with the options it
shows: a `lekhamudra` command by its own `--help` (Click refuses an option it does not know before
it shows help), a benchmark by the options its `--help` lists, an Alembic command by its `--help`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.processes import PROJECT_ROOT, Service, clean_env, free_port, wait_until_serving

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shell_blocks(page: Path) -> list[str]:
    return _SH_BLOCK.findall(page.read_text())


def section(page: Path, heading: str) -> str:
    text = page.read_text()
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def commands(block: str) -> list[list[str]]:
    """Each command line of a shell block as words: continuations joined, comments and
    environment assignments dropped, `&&` chains split."""
    joined = block.replace("\\\n", " ")
    found: list[list[str]] = []
    for line in joined.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            while words and _ENV_ASSIGNMENT.match(words[0]):
                words = words[1:]
            if words:
                found.append(words)
    return found


def uv_run_lines() -> list[tuple[str, list[str]]]:
    return [
        (f"{page.name}: {' '.join(words)}", words[2:])
        for page in PAGES
        for block in shell_blocks(page)
        for words in commands(block)
        if words[:2] == ["uv", "run"]
    ]


def test_the_quick_start_is_two_commands_that_ci_and_the_tour_run() -> None:
    [block] = shell_blocks_of_section("## Quick start")

    assert [" ".join(words) for words in commands(block)] == ["uv run lekhamudra serve", "uv run pytest"]
    assert "uv run pytest" in (PROJECT_ROOT / ".ci" / "run").read_text()


def shell_blocks_of_section(heading: str) -> list[str]:
    return _SH_BLOCK.findall(section(PROJECT_ROOT / "README.md", heading))


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    [tour] = shell_blocks_of_section("## A short tour")
    port = free_port()
    server = Service(
        ["serve", "--port", str(port)],
        env=clean_env(DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        log_path=tmp_path / "serve.log",
    )
    try:
        wait_until_serving(server, f"http://127.0.0.1:{port}")
        # "At the repository root": the tour uploads docs/samples/notice-ne.png by that path.
        workdir = tmp_path / "root"
        workdir.mkdir()
        (workdir / "docs").symlink_to(PROJECT_ROOT / "docs")
        script = "set -euo pipefail\n" + tour.replace("127.0.0.1:8000", f"127.0.0.1:{port}")

        result = subprocess.run(
            ["bash", "-c", script], cwd=workdir, capture_output=True, text=True, timeout=180, check=False
        )
    finally:
        server.stop()

    assert result.returncode == 0, result.stderr + result.stdout + server.log()
    # The server prints where its docs are, and the quick start links the same place.
    assert f"(API docs: http://127.0.0.1:{port}/docs)" in server.log()
    assert "http://127.0.0.1:8000/docs" in section(PROJECT_ROOT / "README.md", "## Quick start")
    assert "<mark>नागरिकता</mark>" in result.stdout  # the scan was read and found
    assert result.stdout.rstrip().endswith('"total":1,"limit":20,"offset":0}')  # Sita's shared list
    assert '"role":"viewer"' in result.stdout.rsplit('{"items"', 1)[1]


@pytest.mark.parametrize(("where", "args"), [line for line in uv_run_lines() if line[1][0] == "lekhamudra"])
def test_each_documented_lekhamudra_command_exists_with_its_options(where: str, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args[1:], "--help"])

    assert result.exit_code == 0, f"{where}\n{result.output}"


@pytest.mark.parametrize(
    ("where", "args"),
    [line for line in uv_run_lines() if line[1][:2] == ["python", "-m"] and line[1][2][:6] == "bench."],
)
def test_each_documented_benchmark_exists_with_its_options(where: str, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", args[2], "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, f"{where}\n{result.stderr}"
    for option in (word.split("=", 1)[0] for word in args[3:] if word.startswith("--")):
        assert option in result.stdout, f"{where}: {option} is not an option of {args[2]}"


@pytest.mark.parametrize(("where", "args"), [line for line in uv_run_lines() if line[1][0] == "alembic"])
def test_each_documented_alembic_command_exists(where: str, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", args[1], "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, f"{where}\n{result.stderr}"


def test_every_documented_uv_run_line_is_checked() -> None:
    checked = ("lekhamudra", "alembic", "python", "pytest", "ruff", "mypy", "pre-commit")
    unchecked = [where for where, args in uv_run_lines() if args[0] not in checked]

    assert unchecked == []
    assert len(uv_run_lines()) >= 20  # the extraction found the pages' commands
