"""The benchmarks' manners: they print by default, write docs/benchmarks.md only when told, and a
missing tool is one line saying how to install it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench._docs import publish
from tests.processes import PROJECT_ROOT

TABLE = "## Search\n\n| query | p95 ms |\n| --- | ---: |\n| one word | 10.6 |\n"


def test_a_benchmark_prints_its_table_and_leaves_the_doc_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Search\n\nthe last run\n")

    with caplog.at_level(logging.INFO, logger="bench"):
        publish("## Search", TABLE, write=False, doc=doc)

    assert "| one word | 10.6 |" in caplog.text
    assert doc.read_text() == "# Benchmarks\n\n## Search\n\nthe last run\n"


def test_with_write_a_benchmark_replaces_only_its_own_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Search\n\nthe last run\n\n## OCR\n\nkept\n")

    publish("## Search", TABLE, write=True, doc=doc)

    assert doc.read_text() == f"# Benchmarks\n\n{TABLE}\n## OCR\n\nkept\n"


@pytest.mark.parametrize("benchmark", ["bench.ab", "bench.api"])
def test_a_benchmark_without_wrk_says_how_to_install_it_in_one_line(tmp_path: Path, benchmark: str) -> None:
    # PATH with only this Python's folder: no wrk on it.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}

    result = subprocess.run(
        [sys.executable, "-m", benchmark], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stderr == f"{benchmark} needs wrk: apt-get install wrk\n"


def test_the_database_faults_benchmark_explains_its_options() -> None:
    command = [sys.executable, "-m", "bench.faults_db", "--help"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    for option in ("--clients", "--kills", "--every", "--pause", "--write"):
        assert option in result.stdout
