"""The page a user sees: the photo stage's flattened page, or a page drawn from the original.

A photo's page is shown as the stage made it (warped, light evened out, binarized), at the size it
was read. A page that was not a photo (a scan, a PDF page) is drawn from the original file on
request: grayscale, its long side at most PREVIEW_LONG_SIDE pixels. Both are PNG: lossless, which a
binarized page needs (no ringing around strokes), and a 1-bit PNG of a page is small.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from app.ocr._images import iter_frames
from app.ocr._pdf import open_pdf, render
from app.ocr._types import OcrError

PAGE_IMAGE_MEDIA_TYPE = "image/png"
PREVIEW_LONG_SIDE = 2000  # an A4 page at about 170 DPI: every line readable on a screen


def encode_page_image(image: Image.Image) -> bytes:
    """PNG bytes of a page: 1 bit per pixel when it is pure black and white, else 8-bit grayscale."""
    gray = image if image.mode == "L" else image.convert("L")
    levels = np.unique(np.asarray(gray))
    if set(levels.tolist()) <= {0, 255}:
        gray = gray.convert("1", dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def render_page_image(path: Path, media_type: str, number: int, *, max_pages: int, max_pixels: int) -> Image.Image:
    """Page `number` (1-based) of the original file, upright and grayscale, for showing."""
    if media_type == "application/pdf":
        with open_pdf(path, max_pages=max_pages) as pdf:
            if not 1 <= number <= len(pdf):
                raise OcrError(f"the PDF has no page {number}")
            page = pdf[number - 1]
            try:
                width, height = page.get_size()
                # Drawn straight at the preview's size: never a 300 DPI page to shrink afterwards.
                cap = PREVIEW_LONG_SIDE * PREVIEW_LONG_SIDE * min(width, height) / max(width, height)
                image, _ = render(page, max_pixels=min(max_pixels, int(cap)))
            finally:
                page.close()
        return image
    for _, frame, _ in iter_frames(path, max_pages=max_pages, max_pixels=max_pixels, first_page=number):
        frame = frame.convert("L")
        frame.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), Image.Resampling.LANCZOS)
        return frame
    raise OcrError(f"the image has no page {number}")
