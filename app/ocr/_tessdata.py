"""Finding Tesseract's language data and checking a languages string against it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.ocr._types import INSTALL_HINT, OcrError

_DEBIAN_DIRS = (Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"))
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _has_models(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.traineddata"))


def tessdata_dir(configured: Path | None = None) -> Path | None:
    """Return the first directory holding *.traineddata: configured, $TESSDATA_PREFIX, then Debian's."""
    candidates: list[Path] = []
    if configured is not None:
        candidates.append(Path(configured))
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        # Tesseract accepts both the tessdata directory and its parent here.
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    candidates += _DEBIAN_DIRS
    return next((c for c in candidates if _has_models(c)), None)


def installed_languages(tessdata: Path | None) -> list[str]:
    """Return the sorted language codes in tessdata, without the "osd" pseudo-language."""
    if tessdata is None or not tessdata.is_dir():
        return []
    return sorted(p.stem for p in tessdata.glob("*.traineddata") if p.stem != "osd")


def validate_languages(tessdata: Path | None, languages: str) -> str:
    """Return languages unchanged if every "+"-joined code is installed, else raise OcrError."""
    if tessdata is None:
        raise OcrError(f"no Tesseract language data found; {INSTALL_HINT}")
    codes = languages.split("+")
    if not all(_CODE.fullmatch(code) for code in codes):
        raise OcrError(f"invalid languages {languages!r}: expected codes joined by '+', e.g. 'nep+eng'")
    installed = installed_languages(tessdata)
    if missing := [code for code in codes if code not in installed]:
        raise OcrError(
            f"language data missing for {'+'.join(missing)} in {tessdata} "
            f"(installed: {', '.join(installed) or 'none'}); {INSTALL_HINT}"
        )
    return languages
