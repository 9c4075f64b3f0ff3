"""Type sniffing, header checks and language-data discovery: no OCR needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.ocr import (
    SUPPORTED_MEDIA_TYPES,
    OcrEngine,
    OcrError,
    _tessdata,
    check_image_header,
    installed_languages,
    sniff_media_type,
    tessdata_dir,
)
from tests.ocr.files import png_declaring


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8L", "image/webp"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),  # an iPhone photo
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "image/heif"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", None),  # AVIF: no decoder here
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", None),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),  # an MP4 video
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"PK\x03\x04\x14\x00", None),
        (b"hello, world", None),
        (b"", None),
    ],
)
def test_sniff_media_type_reads_magic_bytes(head: bytes, media_type: str | None) -> None:
    assert sniff_media_type(head) == media_type
    assert media_type is None or media_type in SUPPORTED_MEDIA_TYPES


def test_header_declaring_a_decompression_bomb_is_refused() -> None:
    with pytest.raises(OcrError, match="pixels"):
        check_image_header(png_declaring(50_000, 50_000)[:64], max_pixels=50_000_000)


def test_header_over_the_configured_cap_is_refused() -> None:
    with pytest.raises(OcrError, match="5000x5000"):
        check_image_header(png_declaring(5_000, 5_000)[:64], max_pixels=20_000_000)


@pytest.mark.parametrize(
    "head",
    [
        png_declaring(2_000, 3_000)[:64],  # within the cap
        b"\x89PNG\r\n\x1a\n",  # header not complete yet
        b"\xff\xd8\xff\xe1\xff\xfeExif",  # JPEG size comes later in the file
        b"%PDF-1.7\n",
        b"not an image",
    ],
)
def test_header_check_passes_what_it_cannot_refuse(head: bytes) -> None:
    check_image_header(head, max_pixels=50_000_000)


def test_tessdata_dir_prefers_the_configured_directory(tmp_path: Path) -> None:
    (tmp_path / "nep.traineddata").write_bytes(b"")
    assert tessdata_dir(tmp_path) == tmp_path


def test_tessdata_dir_reads_tessdata_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tessdata").mkdir()
    (tmp_path / "tessdata" / "eng.traineddata").write_bytes(b"")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert tessdata_dir(tmp_path / "empty") == tmp_path / "tessdata"


def test_without_other_data_the_shipped_nep_and_eng_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSDATA_PREFIX", raising=False)
    # A system directory with English only (what `apt-get install tesseract-ocr` brings) is passed over.
    system = tmp_path / "system"
    system.mkdir()
    (system / "eng.traineddata").write_bytes(b"")
    monkeypatch.setattr(_tessdata, "_SYSTEM_DIRS", (system,))
    assert tessdata_dir() == _tessdata.BUNDLED_DIR
    assert {"nep", "eng"} <= set(installed_languages(tessdata_dir()))
    (system / "nep.traineddata").write_bytes(b"")
    assert tessdata_dir() == system


def test_installed_languages_are_sorted_without_osd(tmp_path: Path) -> None:
    for code in ("osd", "nep", "eng", "hin"):
        (tmp_path / f"{code}.traineddata").write_bytes(b"")
    assert installed_languages(tmp_path) == ["eng", "hin", "nep"]
    assert installed_languages(None) == []
    assert installed_languages(tmp_path / "missing") == []


def test_missing_language_data_says_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "eng.traineddata").write_bytes(b"")
    engine = OcrEngine(tmp_path, page_timeout=5)
    with pytest.raises(OcrError, match=r"nep.*installed: eng.*apt-get install tesseract-ocr-eng tesseract-ocr-nep`"):
        engine.recognize(_blank(), dpi=300, languages="nep+eng")
    with pytest.raises(OcrError, match=r"hin\.traineddata.*TESSDATA_PREFIX"):
        engine.recognize(_blank(), dpi=300, languages="hin")
    assert engine.pid is None  # nothing was started for a request that could not succeed


@pytest.mark.parametrize("languages", ["", "nep+", "../eng", "nep eng"])
def test_malformed_languages_are_refused(tmp_path: Path, languages: str) -> None:
    (tmp_path / "eng.traineddata").write_bytes(b"")
    with pytest.raises(OcrError, match="invalid languages"):
        OcrEngine(tmp_path, page_timeout=5).recognize(_blank(), dpi=300, languages=languages)


def _blank() -> Image.Image:
    return Image.new("L", (10, 10), 255)
