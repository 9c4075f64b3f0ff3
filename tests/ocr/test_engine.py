"""The engine process: reused across pages and languages, killed and replaced when a page hangs."""

from __future__ import annotations

import psutil
import pytest

from app.ocr import OcrEngine, PageTimeout
from tests.ocr.pages import cer


def test_engine_process_is_reused_across_pages_and_languages(engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    engine.recognize(image, dpi=300, languages="nep+eng")
    pid = engine.pid
    engine.recognize(image, dpi=300, languages="eng")
    text, _ = engine.recognize(image, dpi=300, languages="nep+eng")
    assert engine.pid == pid is not None
    assert cer(truth, text) <= 0.03


def test_version_names_tesseract(engine: OcrEngine) -> None:
    assert engine.version.startswith("tesseract 5.")


def test_page_timeout_kills_only_that_page(engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    engine.recognize(image, dpi=300, languages="nep+eng")
    hung = engine.pid
    engine.page_timeout = 0.001
    try:
        with pytest.raises(PageTimeout, match=r"longer than 0\.001 s"):
            engine.recognize(image, dpi=300, languages="nep+eng")
        assert engine.pid is None
        assert not psutil.pid_exists(hung)  # killed and reaped, not left running or as a zombie
    finally:
        engine.page_timeout = 60
    text, _ = engine.recognize(image, dpi=300, languages="nep+eng")
    assert engine.pid not in (None, hung)
    assert cer(truth, text) <= 0.03


def test_closed_engine_starts_again_on_demand(engine: OcrEngine, short_page) -> None:
    image, _ = short_page
    engine.recognize(image, dpi=300, languages="eng")
    stopped = engine.pid
    engine.close()
    assert engine.pid is None
    assert stopped is not None and not psutil.pid_exists(stopped)
    engine.recognize(image, dpi=300, languages="eng")
    assert engine.pid is not None
