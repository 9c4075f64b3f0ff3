"""PDFs: page counts, and per page either the text layer or a 300 DPI rendering to OCR."""

from __future__ import annotations

import ctypes
import math
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from app.ocr._nepali import has_devanagari
from app.ocr._types import OcrError

RENDER_DPI = 300
_MIN_TEXT_CHARS = 3  # letters or digits; fewer is a page number or stray mark, not a text layer
# A scanned page that also carries a little text (a scanner's or portal's stamp, a page header
# added later: "Received 2081-01-15", "Downloaded from ...") keeps its words in the image: its
# text layer is the stamp alone. A page mostly covered by images, with less text than this, is OCRed.
_SCAN_IMAGE_SHARE = 0.5
_STAMP_MAX_CHARS = 200
_GRID = 32  # cells per side when measuring how much of a page images cover
# Pre-Unicode Nepali fonts map Devanagari glyphs onto ASCII codes, so their text layer is gibberish.
_LEGACY_FONTS = (
    "preeti",
    "kantipur",
    "sagarmatha",
    "himali",
    "aakriti",
    "ganess",
    "kanchan",
    "fontasyhimali",
    "pcsnepali",
)
_LEGACY_MARKS = re.compile(r"[\]\[{};/\\|]")
_EDGE_PUNCTUATION = "\"'()<>.,;:!?"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class PdfPage:
    """One PDF page: its text layer if usable, else a rendering to OCR."""

    number: int
    text: str | None
    image: Image.Image | None
    dpi: int


@contextmanager
def open_pdf(path: Path, *, max_pages: int) -> Iterator[pdfium.PdfDocument]:
    """Open a PDF, refusing corrupt or encrypted files and those with more than max_pages pages."""
    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise OcrError(f"cannot open PDF (corrupt or password-protected): {exc}") from exc
    try:
        pages = len(pdf)
        if pages > max_pages:
            raise OcrError(f"PDF has {pages} pages; the limit is {max_pages}")
        yield pdf
    finally:
        pdf.close()


def count_pdf_pages(path: Path, *, max_pages: int) -> int:
    """Return the page count of a PDF."""
    with open_pdf(path, max_pages=max_pages) as pdf:
        return len(pdf)


def iter_pdf_pages(path: Path, *, max_pages: int, max_pixels: int, first_page: int = 1) -> Iterator[PdfPage]:
    """Yield pages from first_page on; at most one rendering is alive at a time."""
    with open_pdf(path, max_pages=max_pages) as pdf:
        for index in range(first_page - 1, len(pdf)):
            try:
                page = pdf[index]
            except pdfium.PdfiumError as exc:
                raise OcrError(f"PDF page {index + 1} cannot be read: {exc}") from exc
            try:
                text = usable_text_layer(page)
                item = PdfPage(index + 1, text, None, 0) if text is not None else _rendered(index + 1, page, max_pixels)
            finally:
                page.close()
            yield item
            del item  # drop the rendering before the next page is rendered


def usable_text_layer(page: pdfium.PdfPage) -> str | None:
    """Return the page's text layer if it is meaningful Unicode text that is not Devanagari, and
    not a stamp on a scanned page."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        letters = sum(ch.isalnum() for ch in text)
        if letters < _MIN_TEXT_CHARS or (letters < _STAMP_MAX_CHARS and is_scanned(page)):
            return None
        # pdfium's Devanagari extraction loses matra order and conjuncts; OCR reads the page better.
        if has_devanagari(text) or uses_legacy_font(textpage) or looks_like_legacy_encoding(text):
            return None
    finally:
        textpage.close()
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", text).strip()


def is_scanned(page: pdfium.PdfPage) -> bool:
    """Return True if images cover at least half of the visible page (one scan, or a few side by
    side). Measured on a grid over the page's box (crop box within media box, in the page's own
    units, so a rotated or offset page measures the same), so overlapping images count once; an
    image drawn through a form (a scan placed by imposition) counts with the form's bounds."""
    try:
        left, bottom, right, top = page.get_bbox()
        width, height = right - left, top - bottom
        if width <= 0 or height <= 0:
            return False
        covered = [bytearray(_GRID) for _ in range(_GRID)]
        kinds = [pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_FORM]
        for obj in page.get_objects(filter=kinds, max_depth=1):
            if obj.type == pdfium_c.FPDF_PAGEOBJ_FORM and not _holds_image(page, obj):
                continue
            x0, y0, x1, y1 = obj.get_bounds()
            columns = _cells(x0 - left, x1 - left, width)
            for row in _cells(y0 - bottom, y1 - bottom, height):
                covered[row][columns.start : columns.stop] = b"\x01" * len(columns)
    except pdfium.PdfiumError:
        return False  # unmeasurable: the text layer is taken, as before
    return sum(sum(row) for row in covered) >= _SCAN_IMAGE_SHARE * _GRID * _GRID


def _cells(start: float, end: float, size: float) -> range:
    """The grid cells whose centres lie between start and end (page units from the box's edge)."""
    first = max(0, math.ceil(start / size * _GRID - 0.5))
    last = min(_GRID - 1, math.floor(end / size * _GRID - 0.5))
    return range(first, last + 1) if last >= first else range(0)


def _holds_image(page: pdfium.PdfPage, form: pdfium.PdfObject) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], form=form))


def uses_legacy_font(textpage: pdfium.PdfTextPage) -> bool:
    """Return True if any character is drawn with a known pre-Unicode Nepali font."""
    buffer = ctypes.create_string_buffer(256)
    seen: set[bytes] = set()
    for index in range(textpage.count_chars()):
        length = pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, buffer, len(buffer), None)
        if not 0 < length <= len(buffer):
            continue
        name = buffer.raw[: length - 1]
        if name not in seen:
            seen.add(name)
            if is_legacy_font_name(name.decode("utf-8", "replace")):
                return True
    return False


def is_legacy_font_name(name: str) -> bool:
    """Return True for names like "ABCDEF+Preeti" or "Kantipur-Bold"."""
    base = name.split("+", 1)[-1]
    key = re.sub(r"[^a-z]", "", base.lower())
    return key.startswith(_LEGACY_FONTS)


def looks_like_legacy_encoding(text: str) -> bool:
    """Return True if the words read like Preeti-style ASCII ("g]kfn ;/sf/") rather than a language."""
    words = [w.strip(_EDGE_PUNCTUATION) for w in text.split() if any(ch.isalpha() for ch in w)]
    marked = sum(1 for w in words if _LEGACY_MARKS.search(w) and not w.startswith(("http", "www.")))
    return marked >= 2 and marked >= 0.3 * len(words)


def _rendered(number: int, page: pdfium.PdfPage, max_pixels: int) -> PdfPage:
    image, dpi = render(page, max_pixels=max_pixels)
    return PdfPage(number, None, image, dpi)


def render(page: pdfium.PdfPage, *, max_pixels: int) -> tuple[Image.Image, int]:
    """Render page in grayscale at 300 DPI, or lower if that would exceed max_pixels."""
    width, height = page.get_size()
    scale = RENDER_DPI / 72
    if width * height * scale * scale > max_pixels:
        # A poster-sized page is legitimate: scale it down to the cap rather than refuse it.
        scale = (max_pixels / (width * height)) ** 0.5
    try:
        bitmap = page.render(scale=scale, grayscale=True)
    except pdfium.PdfiumError as exc:
        raise OcrError(f"cannot render PDF page: {exc}") from exc
    try:
        image = bitmap.to_pil().convert("L")
    finally:
        bitmap.close()
    return image, max(1, round(72 * scale))
