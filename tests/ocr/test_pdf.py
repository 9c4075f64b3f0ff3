"""PDFs: a usable Latin text layer is taken as is; Devanagari, legacy-font and image-only pages are OCRed."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from fontTools.ttLib import TTFont
from fpdf import FPDF
from PIL import Image

from app.ocr import OcrEngine, OcrError, PageText, _pdf, count_pages, read_pages
from app.ocr._pdf import is_legacy_font_name, looks_like_legacy_encoding
from tests.ocr.pages import DEVANAGARI_FONT, LATIN_FONT, cer

PDF = "application/pdf"
LIMITS = {"max_pages": 10, "max_pixels": 50_000_000}
LATIN_LINES = ["Government of Nepal", "Ministry of Home Affairs", "Public Notice: bring 2 photos (35 x 45 mm)."]
PREETI_LINES = ["g]kfn ;/sf/", "u[x dGqfno", "lhNnf k|zf;g sfof{no"]  # नेपाल सरकार / गृह मन्त्रालय / ...


def _read(path: Path, engine: OcrEngine) -> list[PageText]:
    return list(read_pages(path, PDF, languages="nep+eng", engine=engine, **LIMITS))


def _text_pdf(path: Path, lines: list[str], *, font: str = "helvetica", font_file: Path | None = None) -> Path:
    pdf = FPDF(format=(148, 210))
    pdf.add_page()
    if font_file is not None:
        pdf.add_font(font, fname=str(font_file))
    pdf.set_font(font, size=14)
    for line in lines:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def _font_named(tmp_path: Path, family: str) -> Path:
    """A copy of Noto Sans whose family and PostScript names are `family`, like an old Nepali font."""
    font = TTFont(str(LATIN_FONT))
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 6, 16):
            record.string = family
    path = tmp_path / f"{family}.ttf"
    font.save(str(path))
    return path


def test_scanned_pdf_is_ocred(tmp_path: Path, engine: OcrEngine, nepali_page) -> None:
    image, truth = nepali_page
    path = tmp_path / "scan.pdf"
    image.save(path, resolution=300)
    [page] = _read(path, engine)
    assert (page.source, page.languages) == ("ocr", "nep+eng")
    assert cer(truth, page.text) <= 0.03


def test_only_one_rendered_page_is_alive_at_a_time(
    tmp_path: Path, engine: OcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "three.pdf"
    blank = Image.new("L", (600, 800), 255)
    blank.save(path, resolution=300, save_all=True, append_images=[blank, blank])
    renders: list[weakref.ref[Image.Image]] = []
    real_render = _pdf.render

    def watched_render(page: pdfium.PdfPage, *, max_pixels: int) -> tuple[Image.Image, int]:
        assert all(ref() is None for ref in renders), "the previous page's rendering is still alive"
        image, dpi = real_render(page, max_pixels=max_pixels)
        renders.append(weakref.ref(image))
        return image, dpi

    monkeypatch.setattr(_pdf, "render", watched_render)
    assert [p.source for p in _read(path, engine)] == ["ocr"] * 3


def test_poster_sized_page_is_rendered_under_the_pixel_cap(tmp_path: Path, engine: OcrEngine) -> None:
    pdf = FPDF(format=(2000, 2000))  # millimetres: 300 DPI would be 550 megapixels
    pdf.add_page()
    path = tmp_path / "poster.pdf"
    pdf.output(str(path))
    [page] = read_pages(path, PDF, languages="eng", engine=engine, max_pages=1, max_pixels=4_000_000)
    assert (page.source, page.text) == ("ocr", "")


def test_latin_text_layer_is_taken_exactly(tmp_path: Path, engine: OcrEngine) -> None:
    path = _text_pdf(tmp_path / "latin.pdf", LATIN_LINES)
    [page] = _read(path, engine)
    assert page == PageText(1, "\n".join(LATIN_LINES), 100.0, "text_layer", "pdf text layer", "")


def test_each_page_records_its_source(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    pdf = FPDF(format=(148, 210))
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text=LATIN_LINES[0])
    pdf.add_page()
    pdf.image(image, x=0, y=0, w=pdf.w)  # an image-only page, as a scanner makes it
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))
    assert count_pages(path, PDF, **LIMITS) == 2
    pages = _read(path, engine)
    assert [(p.number, p.source) for p in pages] == [(1, "text_layer"), (2, "ocr")]
    assert cer(truth, pages[1].text) <= 0.03


def _scan_with_stamp(path: Path, image: Image.Image, *stamp: str, image_width: float) -> Path:
    """A scanned sheet (the image on a page of white, `image_width` mm wide) with a line of real
    text over it, as a scanner, a download portal or an office's receiving stamp adds it."""
    sheet = Image.new("L", (image.width, round(image.width * 210 / 148)), 255)  # the whole sheet, as scanned
    sheet.paste(image, (0, 150))
    pdf = FPDF(format=(148, 210))
    pdf.add_page()
    pdf.image(sheet, x=0, y=0, w=image_width)
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(5, 3)
    for line in stamp:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


STAMP = "Received 2024-07-31 by Registry, ref 4471"


def test_a_scan_carrying_a_stamp_is_ocred_not_read_as_the_stamp(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    path = _scan_with_stamp(tmp_path / "stamped.pdf", image, STAMP, image_width=148)

    [page] = _read(path, engine)

    assert page.source == "ocr"
    assert "Received" in page.text  # the stamp is drawn on the page, so OCR reads it too
    body = page.text.split("\n", 1)[1] if page.text.startswith("Received") else page.text
    assert cer(truth, body.replace(STAMP, "").strip()) <= 0.05


def test_a_page_of_text_with_a_small_picture_keeps_its_text_layer(
    tmp_path: Path, engine: OcrEngine, short_page
) -> None:
    image, _ = short_page
    path = _scan_with_stamp(tmp_path / "logo.pdf", image, STAMP, image_width=40)  # a logo-sized picture

    [page] = _read(path, engine)

    assert (page.source, page.text) == ("text_layer", STAMP)


def _rotate(page: pdfium.PdfPage) -> None:
    page.set_rotation(90)


def _move_the_page_box(page: pdfium.PdfPage) -> None:
    """The same drawing 300 points up and right, the page's boxes moved with it (not at 0,0)."""
    width, height = page.get_size()
    for obj in list(page.get_objects(max_depth=1)):
        obj.transform(pdfium.PdfMatrix().translate(300, 300))
    page.set_mediabox(0, 0, width + 300, height + 300)
    page.set_cropbox(300, 300, width + 300, height + 300)


@pytest.mark.parametrize("change", [_rotate, _move_the_page_box], ids=["rotated", "page-box-not-at-origin"])
def test_a_stamped_scan_is_ocred_however_its_page_is_set(
    tmp_path: Path, engine: OcrEngine, short_page, change: Callable[[pdfium.PdfPage], None]
) -> None:
    stamped = _scan_with_stamp(tmp_path / "stamped.pdf", short_page[0], STAMP, image_width=148)
    pdf = pdfium.PdfDocument(stamped)
    page = pdf[0]
    change(page)
    page.gen_content()
    path = tmp_path / "changed.pdf"
    pdf.save(path)
    pdf.close()

    [read] = _read(path, engine)

    assert read.source == "ocr"


def test_overlapping_pictures_are_counted_once(tmp_path: Path, engine: OcrEngine) -> None:
    # Two pictures drawn on the same spot, each over 30 % of the page: 30 % covered, not 60 %.
    picture = Image.new("L", (400, 400), 128)
    side = (0.30 * 148 * 210) ** 0.5
    pdf = FPDF(format=(148, 210))
    pdf.add_page()
    pdf.image(picture, x=10, y=40, w=side, h=side)
    pdf.image(picture, x=10, y=40, w=side, h=side)
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(5, 3)
    pdf.cell(text="A photo with a caption")
    path = tmp_path / "photo.pdf"
    pdf.output(str(path))

    [page] = _read(path, engine)

    assert (page.source, page.text) == ("text_layer", "A photo with a caption")


def test_a_scan_with_a_full_text_layer_keeps_it(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    # A "searchable PDF" (a scan that was OCRed before it was uploaded): its text layer is read.
    image, _ = short_page
    path = _scan_with_stamp(tmp_path / "searchable.pdf", image, *LATIN_LINES * 4, image_width=148)

    [page] = _read(path, engine)

    assert (page.source, page.text) == ("text_layer", "\n".join(LATIN_LINES * 4))


def test_devanagari_text_layer_is_ocred(tmp_path: Path, engine: OcrEngine) -> None:
    # fpdf2 shapes Devanagari only with uharfbuzz, which is not installed: the text layer holds the
    # right code points but the glyphs are drawn unshaped, so only the routing is asserted here.
    path = _text_pdf(tmp_path / "deva.pdf", ["नेपाल सरकार", "गृह मन्त्रालय"], font="deva", font_file=DEVANAGARI_FONT)
    [page] = _read(path, engine)
    assert page.source == "ocr"
    assert page.engine.startswith("tesseract ")


def test_legacy_font_text_layer_is_ocred(tmp_path: Path, engine: OcrEngine) -> None:
    font_file = _font_named(tmp_path, "Preeti")
    path = _text_pdf(tmp_path / "preeti.pdf", ["Notice board", "Office hours"], font="Preeti", font_file=font_file)
    [page] = _read(path, engine)
    assert page.source == "ocr"  # the font name alone decides: the words themselves look like English


def test_legacy_encoding_in_a_plain_font_is_ocred(tmp_path: Path, engine: OcrEngine) -> None:
    path = _text_pdf(tmp_path / "preeti-text.pdf", PREETI_LINES)
    [page] = _read(path, engine)
    assert page.source == "ocr"


@pytest.mark.parametrize(
    ("name", "legacy"),
    [
        ("Preeti", True),
        ("ABCDEF+Preeti", True),
        ("Kantipur-Bold", True),
        ("FONTASY_HIMALI_TT", True),
        ("PCS NEPALI", True),
        ("Sagarmatha", True),
        ("Helvetica", False),
        ("MPDFAA+NotoSansDevanagari", False),
        ("Mangal", False),
    ],
)
def test_legacy_font_names(name: str, legacy: bool) -> None:
    assert is_legacy_font_name(name) is legacy


@pytest.mark.parametrize(
    ("text", "legacy"),
    [
        ("\n".join(PREETI_LINES), True),
        ("g]kfn ;/sf/ u[x dGqfno", True),
        ("\n".join(LATIN_LINES), False),
        ("Pay by cheque and/or cash; see www.nepal.gov.np/forms or https://example.org/a/b", False),
        ("Total: 1,200/- only", False),
    ],
)
def test_legacy_encoding_heuristic(text: str, legacy: bool) -> None:
    assert looks_like_legacy_encoding(text) is legacy


def test_too_many_pages_is_an_ocr_error(tmp_path: Path, engine: OcrEngine) -> None:
    pdf = FPDF()
    for _ in range(3):
        pdf.add_page()
    path = tmp_path / "long.pdf"
    pdf.output(str(path))
    with pytest.raises(OcrError, match="PDF has 3 pages; the limit is 2"):
        count_pages(path, PDF, max_pages=2, max_pixels=50_000_000)
    with pytest.raises(OcrError, match="PDF has 3 pages; the limit is 2"):
        next(read_pages(path, PDF, languages="eng", engine=engine, max_pages=2, max_pixels=50_000_000))


def test_corrupt_pdf_is_an_ocr_error(tmp_path: Path, engine: OcrEngine) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF garbage")
    with pytest.raises(OcrError, match="cannot open PDF"):
        count_pages(path, PDF, **LIMITS)
    with pytest.raises(OcrError, match="cannot open PDF"):
        _read(path, engine)


def test_unsupported_media_type_is_an_ocr_error(tmp_path: Path, engine: OcrEngine) -> None:
    with pytest.raises(OcrError, match="unsupported"):
        count_pages(tmp_path / "x.gif", "image/gif", **LIMITS)
