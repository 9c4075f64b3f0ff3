"""docs/benchmarks.md: each benchmark prints its table, and with `--write` replaces its own section."""

from __future__ import annotations

import argparse
import logging
import re
import shutil
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
log = logging.getLogger("bench")


def section_pattern(heading: str) -> re.Pattern[str]:
    """The `## heading` section up to the next `## ` or the end."""
    return re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def replace_section(heading: str, markdown: str, doc: Path = DOC) -> None:
    """Replace (or append) the section that starts with `heading`, leaving the others alone."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = section_pattern(heading)
    if pattern.search(text):
        text = pattern.sub(lambda _: markdown + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + markdown + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip("\n") + "\n")


def add_write_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write",
        action="store_true",
        help="also replace this benchmark's section of docs/benchmarks.md (by default the table is only printed)",
    )


def publish(heading: str, markdown: str, *, write: bool, doc: Path = DOC) -> None:
    """Print the table; with `write`, put it in docs/benchmarks.md as well."""
    log.info("\n%s", markdown)
    if write:
        replace_section(heading, markdown, doc)
        log.info("written to %s", doc)
    else:
        log.info("(printed only; --write puts it in %s)", doc.name)


def require_tool(benchmark: str, tool: str, install: str) -> str:
    """The tool's path, or exit with one line saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{benchmark} needs {tool}: {install}")
    return path
