"""The photo stage: phone photos read like scans, scans are left alone, nothing is cropped away."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.ocr import OcrEngine, OcrError, PageText, clean_nepali, flatten_photo, read_pages
from tests.ocr.pages import NEPALI_NOTICE, cer, render_page
from tests.ocr.photos import Distortions, photograph

LIMITS = {"max_pages": 10, "max_pixels": 50_000_000}
A5 = (1748, 2480)  # pixels at 300 DPI
FRAME = (1800, 2400)  # a small phone photo (4.3 MP), enough for a half-page notice at ~200 DPI
PHOTO_CER = 0.03  # the target for phone photos
PHONE_PHOTO = Distortions(tilt=20, gradient=0.45, shadow=0.45, blur=1.0, jpeg_quality=75)


@pytest.fixture(scope="module")
def a5_notice() -> tuple[Image.Image, str]:
    return render_page(NEPALI_NOTICE, width=A5[0], min_height=A5[1])


def _read_jpeg(tmp_path: Path, picture: Image.Image, engine: OcrEngine) -> PageText:
    path = tmp_path / "photo.jpg"
    picture.save(path, quality=95)
    [page] = read_pages(path, "image/jpeg", languages="nep+eng", engine=engine, **LIMITS)
    return page


def test_a_phone_photo_reads_like_a_scan(tmp_path: Path, engine: OcrEngine, a5_notice, record_property) -> None:
    page, truth = a5_notice
    picture = photograph(page, PHONE_PHOTO, seed=7, size=FRAME)

    with_stage = cer(truth, _read_jpeg(tmp_path, picture, engine).text)
    # What the pipeline did before the stage: the photo as decoded, straight to Tesseract.
    without, _ = engine.recognize(picture, dpi=300, languages="nep+eng")
    without_stage = cer(truth, clean_nepali(without))

    record_property("cer", {"with": with_stage, "without": without_stage})
    assert with_stage <= PHOTO_CER
    assert without_stage > PHOTO_CER + 0.2


def test_the_page_is_found_and_warped_to_its_own_rectangle(a5_notice) -> None:
    page, _ = a5_notice
    picture = photograph(page, PHONE_PHOTO, seed=7, size=FRAME)

    result = flatten_photo(picture)

    assert result.kind == "page"
    assert result.image.mode == "L" and set(np.unique(np.asarray(result.image))) <= {0, 255}
    height_over_width = result.image.height / result.image.width
    assert height_over_width == pytest.approx(A5[1] / A5[0], rel=0.08)
    # The desk is gone: the warped page is paper up to its edges.
    border = np.concatenate([np.asarray(result.image)[:, :20].ravel(), np.asarray(result.image)[:, -20:].ravel()])
    assert (border == 255).mean() > 0.99


def test_a_page_filling_the_whole_photo_is_not_cropped(
    tmp_path: Path, engine: OcrEngine, a5_notice, record_property
) -> None:
    page, truth = a5_notice
    # The page runs off the frame on every side, under uneven light with a shadow's hard edge:
    # the edges in the picture are the shadow's and the frame's, never the page's own.
    filling = Distortions(tilt=4, fill=1.06, gradient=0.35, shadow=0.45, jpeg_quality=85)
    picture = photograph(page, filling, seed=11, size=FRAME)

    result = flatten_photo(picture)
    read = _read_jpeg(tmp_path, picture, engine)

    assert result.kind == "whole"
    assert result.image.size == picture.size
    record_property("cer", cer(truth, read.text))
    assert cer(truth, read.text) <= PHOTO_CER
    # Every line's first and last word is there: no margin was cut off.
    assert all(
        line.split()[0] in read.text and line.split()[-1].rstrip("।") in read.text for line in truth.splitlines()
    )


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_flat_scan_passes_through_untouched(a5_notice, mode: str) -> None:
    page, _ = a5_notice
    scan = page.convert(mode)
    before = scan.tobytes()

    result = flatten_photo(scan)

    assert result.kind == "scan"
    assert result.image is scan
    assert result.image.tobytes() == before


def test_a_scan_on_grey_paper_with_jpeg_noise_is_still_a_scan(a5_notice) -> None:
    page, _ = a5_notice
    grey = Image.eval(page, lambda v: 40 + v * 190 // 255)  # paper at 230, ink at 40
    buffer = io.BytesIO()
    grey.save(buffer, format="JPEG", quality=75)

    assert flatten_photo(Image.open(buffer)).kind == "scan"


def test_pure_noise_is_refused_with_a_reason() -> None:
    noise = Image.fromarray(np.random.default_rng(5).integers(0, 256, (1200, 900), dtype=np.uint8))

    with pytest.raises(OcrError, match="noise"):
        flatten_photo(noise)


def test_photos_are_made_the_same_from_the_same_seed(a5_notice) -> None:
    page, _ = a5_notice
    small = page.resize((page.width // 4, page.height // 4))

    first = photograph(small, PHONE_PHOTO, seed=3, size=(450, 600))
    again = photograph(small, PHONE_PHOTO, seed=3, size=(450, 600))
    other = photograph(small, PHONE_PHOTO, seed=4, size=(450, 600))

    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()
