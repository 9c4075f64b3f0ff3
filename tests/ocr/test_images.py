"""Raster formats end to end: each page goes through read_pages and real Tesseract."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from app.ocr import OcrEngine, OcrError, count_pages, read_pages, sniff_media_type
from app.ocr._images import iter_frames
from tests.ocr.files import png_declaring
from tests.ocr.pages import cer, render_page

LIMITS = {"max_pages": 50, "max_pixels": 60_000_000}
FORMAT_CER = 0.03


def _read(path: Path, media_type: str, engine: OcrEngine, **kwargs: int) -> list:
    return list(read_pages(path, media_type, languages="nep+eng", engine=engine, **(LIMITS | kwargs)))


def test_exif_rotated_jpeg_is_read_upright(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    # Stored lying on its side, with EXIF orientation 6 telling viewers to turn it clockwise.
    sideways = image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    sideways.save(path, quality=92, dpi=(300, 300), exif=exif)
    [page] = _read(path, "image/jpeg", engine)
    assert page.source == "ocr"
    assert cer(truth, page.text) <= FORMAT_CER


def test_image_without_dpi_is_read_as_300_dpi(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    path = tmp_path / "nodpi.png"
    image.save(path)
    assert "dpi" not in Image.open(path).info
    [page] = _read(path, "image/png", engine)
    assert cer(truth, page.text) <= FORMAT_CER


def test_webp_page(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    path = tmp_path / "page.webp"
    image.save(path, lossless=True)
    [page] = _read(path, "image/webp", engine)
    assert cer(truth, page.text) <= FORMAT_CER


def test_heic_photo_is_read(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    path = tmp_path / "IMG_0001.HEIC"
    image.convert("RGB").save(path, format="HEIF", quality=90)
    assert sniff_media_type(path.read_bytes()[:64]) == "image/heic"
    assert count_pages(path, "image/heic", **LIMITS) == 1
    [page] = _read(path, "image/heic", engine)
    assert cer(truth, page.text) <= FORMAT_CER


def test_a_50_megapixel_photo_is_decoded_at_half_size_and_read(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, truth = short_page
    # A 50 MP photo (8160x6120) of a page at 600 DPI: at half size its text is as large as on the clean page.
    photo = Image.new("L", (8160, 6120), 255)
    photo.paste(image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC), (400, 400))
    path = tmp_path / "big.jpg"
    photo.save(path, quality=90, dpi=(600, 600))
    [(number, frame, dpi)] = list(iter_frames(path, **LIMITS))
    assert (number, frame.size, dpi) == (1, (4080, 3060), 300)
    [page] = _read(path, "image/jpeg", engine)
    assert cer(truth, page.text) <= FORMAT_CER


def test_each_tiff_frame_is_a_page(tmp_path: Path, engine: OcrEngine) -> None:
    first, first_truth = render_page(["नेपाल सरकार", "पहिलो पृष्ठ"])
    second, second_truth = render_page(["Second page", "दोस्रो पृष्ठ"])
    path = tmp_path / "scan.tiff"
    first.save(path, save_all=True, append_images=[second], dpi=(300, 300), compression="tiff_lzw")
    assert count_pages(path, "image/tiff", **LIMITS) == 2
    pids: set[int | None] = set()
    pages = []
    for page in read_pages(path, "image/tiff", languages="nep+eng", engine=engine, **LIMITS):
        pages.append(page)
        pids.add(engine.pid)
    assert [p.number for p in pages] == [1, 2]
    assert cer(first_truth, pages[0].text) <= FORMAT_CER
    assert cer(second_truth, pages[1].text) <= FORMAT_CER
    assert all(p.languages == "nep+eng" and p.engine.startswith("tesseract 5") for p in pages)
    assert len(pids) == 1  # one engine process served both pages

    [resumed] = _read(path, "image/tiff", engine, first_page=2)
    assert (resumed.number, resumed.text) == (2, pages[1].text)
    assert engine.pid in pids  # and the next job too

    with pytest.raises(OcrError, match="2 pages; the limit is 1"):
        count_pages(path, "image/tiff", max_pages=1, max_pixels=50_000_000)


def test_truncated_png_is_an_ocr_error(tmp_path: Path, engine: OcrEngine, short_page) -> None:
    image, _ = short_page
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: buffer.tell() // 2])
    with pytest.raises(OcrError, match="corrupt or truncated"):
        count_pages(path, "image/png", **LIMITS)
    with pytest.raises(OcrError, match="corrupt or truncated"):
        _read(path, "image/png", engine)


def test_garbage_with_an_image_type_is_an_ocr_error(tmp_path: Path, engine: OcrEngine) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(OcrError):
        count_pages(path, "image/png", **LIMITS)
    with pytest.raises(OcrError):
        _read(path, "image/png", engine)


@pytest.mark.parametrize(("width", "height"), [(50_000, 50_000), (8_000, 8_000)])
def test_decompression_bomb_is_an_ocr_error(tmp_path: Path, engine: OcrEngine, width: int, height: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(width, height))
    with pytest.raises(OcrError, match="pixels"):
        count_pages(path, "image/png", **LIMITS)
    with pytest.raises(OcrError, match="pixels"):
        _read(path, "image/png", engine)
