"""Finding Tesseract's language data and checking a languages string against it.

The project ships `nep` and `eng` (tessdata_fast, in `tessdata/` beside this module), so OCR works
on a machine with no system package; a configured directory, or a system one that holds both of
those languages, takes precedence (it may hold better models or more languages).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.ocr._types import OcrError

BUNDLED_DIR = Path(__file__).with_name("tessdata")
BUNDLED_LANGUAGES = ("eng", "nep")
_SYSTEM_DIRS = (Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"))
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _has_models(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.traineddata"))


def tessdata_dir(configured: Path | None = None) -> Path:
    """The directory Tesseract reads: `configured` or $TESSDATA_PREFIX when it holds models, else a
    system directory holding every bundled language, else the data shipped with the project."""
    explicit: list[Path] = []
    if configured is not None:
        explicit.append(Path(configured))
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        # Tesseract accepts both the tessdata directory and its parent here.
        explicit += [Path(prefix), Path(prefix) / "tessdata"]
    for candidate in explicit:
        if _has_models(candidate):
            return candidate
    for candidate in _SYSTEM_DIRS:
        if set(BUNDLED_LANGUAGES) <= set(installed_languages(candidate)):
            return candidate
    return BUNDLED_DIR


def installed_languages(tessdata: Path | None) -> list[str]:
    """Return the sorted language codes in tessdata, without the "osd" pseudo-language."""
    if tessdata is None or not tessdata.is_dir():
        return []
    return sorted(p.stem for p in tessdata.glob("*.traineddata") if p.stem != "osd")


def install_hint(missing: list[str]) -> str:
    """How to get the data for `missing` languages so that this module finds it."""
    codes = dict.fromkeys((*BUNDLED_LANGUAGES, *missing))
    packages = " ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in codes)
    files = ", ".join(f"{code}.traineddata" for code in codes)
    return (
        f"install it with `apt-get install {packages}` (the system's data is used when it holds nep and eng), "
        f"or put {files} (from https://github.com/tesseract-ocr/tessdata_fast) in one directory "
        "and set TESSDATA_PREFIX to it"
    )


def validate_languages(tessdata: Path, languages: str) -> str:
    """Return languages unchanged if every "+"-joined code is installed, else raise OcrError."""
    codes = languages.split("+")
    if not all(_CODE.fullmatch(code) for code in codes):
        raise OcrError(f"invalid languages {languages!r}: expected codes joined by '+', e.g. 'nep+eng'")
    installed = installed_languages(tessdata)
    if missing := [code for code in codes if code not in installed]:
        raise OcrError(
            f"language data missing for {'+'.join(missing)} in {tessdata} "
            f"(installed: {', '.join(installed) or 'none'}); {install_hint(missing)}"
        )
    return languages
