"""Fixtures for OCR tests: real Tesseract in a child process, and pages rendered once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app.ocr import OcrEngine, tessdata_dir
from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, render_page


@pytest.fixture(scope="session")
def tessdata() -> Path:
    found = tessdata_dir()
    if found is None:
        pytest.skip("no Tesseract language data: apt-get install tesseract-ocr-nep tesseract-ocr-eng")
    return found


@pytest.fixture(scope="module")
def engine(tessdata: Path) -> Iterator[OcrEngine]:
    with OcrEngine(tessdata, page_timeout=60) as ocr:
        yield ocr


@pytest.fixture(scope="session")
def nepali_page() -> tuple[Image.Image, str]:
    return render_page(NEPALI_NOTICE)


@pytest.fixture(scope="session")
def english_page() -> tuple[Image.Image, str]:
    return render_page(ENGLISH_LETTER)


@pytest.fixture(scope="session")
def short_page() -> tuple[Image.Image, str]:
    """A few lines, for tests about formats rather than accuracy."""
    return render_page(NEPALI_NOTICE[:5])
