"""Fixtures for OCR tests: pages rendered once per session (the engine is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.ocr.pages import ENGLISH_LETTER, NEPALI_NOTICE, render_page


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
