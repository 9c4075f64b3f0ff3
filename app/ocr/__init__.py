"""OCR: page text from images and PDFs, through one persistent Tesseract process per worker.

The worker's face::

    sniff_media_type(head) -> media type | None      check_image_header(head, max_pixels=)
    tessdata_dir(configured) -> Path                 installed_languages(tessdata) -> [codes]
    install_hint(missing) -> how to get more languages
    count_pages(path, media_type, ...) -> int        read_pages(path, media_type, ...) -> Iterator[PageText]
    OcrEngine(tessdata, page_timeout=)               clean_nepali(text) -> text
    flatten_photo(image) -> Flattened (the photo stage, run by read_pages on every OCR'd page;
        PageText.image is its page when it was a photo)
    encode_page_image(image) -> PNG bytes            render_page_image(path, media_type, n, ...) -> image

Errors: OcrError (permanent) and its subclass PageTimeout; EngineDied (the engine process died
under a page: retried, as a crash).
"""

from app.ocr._engine import OcrEngine
from app.ocr._images import check_image_header, sniff_media_type
from app.ocr._nepali import clean_nepali
from app.ocr._pages import count_pages, read_pages
from app.ocr._photo import Flattened, flatten_photo
from app.ocr._preview import PAGE_IMAGE_MEDIA_TYPE, encode_page_image, render_page_image
from app.ocr._tessdata import install_hint, installed_languages, tessdata_dir
from app.ocr._types import DEFAULT_LANGUAGES, SUPPORTED_MEDIA_TYPES, EngineDied, OcrError, PageText, PageTimeout

__all__ = [
    "DEFAULT_LANGUAGES",
    "PAGE_IMAGE_MEDIA_TYPE",
    "SUPPORTED_MEDIA_TYPES",
    "EngineDied",
    "Flattened",
    "OcrEngine",
    "OcrError",
    "PageText",
    "PageTimeout",
    "check_image_header",
    "clean_nepali",
    "count_pages",
    "encode_page_image",
    "flatten_photo",
    "install_hint",
    "installed_languages",
    "read_pages",
    "render_page_image",
    "sniff_media_type",
    "tessdata_dir",
]
