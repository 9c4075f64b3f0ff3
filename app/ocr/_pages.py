"""The pipeline per file: detect the format, then yield one page's text at a time.

Each page OCR'd goes through the same ordered steps: photo stage (left as is for a flat scan) ->
deskew -> Tesseract -> Nepali clean-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from app.ocr._deskew import deskew
from app.ocr._engine import OcrEngine
from app.ocr._images import count_frames, iter_frames
from app.ocr._nepali import clean_nepali
from app.ocr._pdf import count_pdf_pages, iter_pdf_pages
from app.ocr._photo import flatten_photo
from app.ocr._tessdata import validate_languages
from app.ocr._types import IMAGE_MEDIA_TYPES, OcrError, PageText

TEXT_LAYER_ENGINE = "pdf text layer"


def count_pages(path: Path, media_type: str, *, max_pages: int, max_pixels: int) -> int:
    """Return the number of pages, raising OcrError for corrupt files, too many pages or oversized images."""
    if media_type == "application/pdf":
        return count_pdf_pages(path, max_pages=max_pages)
    if media_type in IMAGE_MEDIA_TYPES:
        return count_frames(path, max_pages=max_pages, max_pixels=max_pixels)
    raise OcrError(f"unsupported media type {media_type!r}")


def read_pages(
    path: Path,
    media_type: str,
    *,
    languages: str,
    engine: OcrEngine,
    max_pages: int,
    max_pixels: int,
    first_page: int = 1,
) -> Iterator[PageText]:
    """Yield the text of each page from first_page on, in order, holding one page in memory at a time."""
    if first_page < 1:
        raise ValueError("first_page is 1-based")
    validate_languages(engine.tessdata, languages)
    if media_type == "application/pdf":
        for page in iter_pdf_pages(path, max_pages=max_pages, max_pixels=max_pixels, first_page=first_page):
            if page.image is None:
                yield PageText(page.number, page.text or "", 100.0, "text_layer", TEXT_LAYER_ENGINE, "")
            else:
                yield _ocr(page.number, page.image, page.dpi, languages=languages, engine=engine)
            del page  # otherwise this rendering stays alive while the next one is made
    elif media_type in IMAGE_MEDIA_TYPES:
        frames = iter_frames(path, max_pages=max_pages, max_pixels=max_pixels, first_page=first_page)
        for number, image, dpi in frames:
            yield _ocr(number, image, dpi, languages=languages, engine=engine)
            del image
    else:
        raise OcrError(f"unsupported media type {media_type!r}")


def _ocr(number: int, image: Image.Image, dpi: int, *, languages: str, engine: OcrEngine) -> PageText:
    try:
        flattened = flatten_photo(image)
    except OcrError as exc:
        raise OcrError(f"page {number}: {exc}") from exc
    # A page skewed by 2-3 degrees makes Tesseract's layout analysis drop whole paragraphs.
    straight, _ = deskew(flattened.image)
    text, confidence = engine.recognize(straight, dpi=dpi, languages=languages)
    if "nep" in languages.split("+"):
        text = clean_nepali(text)
    processed = None if flattened.kind == "scan" else flattened.image
    return PageText(number, text.strip(), confidence, "ocr", engine.version, languages, processed)
