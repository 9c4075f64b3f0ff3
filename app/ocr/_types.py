"""Result and error types of the OCR package.

Errors::

    OcrError            permanent: the file or the setup is wrong, retrying will not help
    └── PageTimeout     one page took longer than the engine's per-page limit
    EngineDied          the engine process died under a page: a crash, not the page's error
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

SUPPORTED_MEDIA_TYPES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "image/heic", "image/heif", "image/tiff", "image/webp", "application/pdf"}
)
IMAGE_MEDIA_TYPES: frozenset[str] = SUPPORTED_MEDIA_TYPES - {"application/pdf"}
DEFAULT_LANGUAGES = "nep+eng"


class OcrError(Exception):
    """A permanent OCR failure: corrupt or oversized input, or missing language data."""


class PageTimeout(OcrError):
    """A page exceeded the per-page recognition time limit."""


class EngineDied(Exception):
    """The engine process died while it held a page (killed, out of memory, a crash inside
    Tesseract). Not an answer about the page: the caller may try again, and bounds how often."""


@dataclass(frozen=True, slots=True)
class PageText:
    """The text of one page and where it came from."""

    number: int
    text: str
    confidence: float
    source: Literal["ocr", "text_layer"]
    engine: str
    languages: str
    # The page as the photo stage made it, when it was a photo (None: left as it was).
    image: Image.Image | None = None
