"""docs/benchmarks.md: each benchmark replaces only its own section."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


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
