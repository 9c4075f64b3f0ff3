"""Raster images: type sniffing, pixel caps, and one prepared frame at a time.

HEIC/HEIF (iPhones' default) is decoded by pillow-heif, which applies the file's own rotation and
mirroring (irot/imir) and resets the EXIF orientation, so no frame is turned twice.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from app.ocr._types import OcrError

pillow_heif.register_heif_opener(thumbnails=False)

DEFAULT_DPI = 300
# Frames with 4x as many pixels or more are decoded at 1/2, 1/3 ... of their size, keeping at
# least this many: an A4 page spanning 70 % of a 12 MP frame's long side is at about 240 DPI,
# more than 10 pt text needs (docs/benchmarks.md, "Phone photos").
WORKING_PIXELS = 12_000_000
_MIN_DPI, _MAX_DPI = 70, 1200
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
    (b"%PDF-", "application/pdf"),
)
# ISO base media files (HEIF) start with an `ftyp` box: its major brand, then compatible brands.
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
# Everything Pillow raises for files that are truncated, corrupt, or not what they claim to be.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError, IndexError, KeyError)


def sniff_media_type(head: bytes) -> str | None:
    """Return the supported media type announced by the file's first bytes, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _heif_type(head)
    return next((media_type for magic, media_type in _MAGIC if head.startswith(magic)), None)


def _heif_type(head: bytes) -> str | None:
    """image/heic for HEVC-coded HEIF (what phones write), image/heif for a generic HEIF that
    declares HEVC among its compatible brands; None for AVIF, MP4 and the rest (no decoder here)."""
    box_size = int.from_bytes(head[:4], "big")
    brands = [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    major = head[8:12]
    if major in _HEVC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS and _HEVC_BRANDS.intersection(brands):
        return "image/heif"
    return None


def check_pixels(width: int, height: int, *, max_pixels: int, what: str = "image") -> None:
    """Raise OcrError if a width x height raster exceeds max_pixels."""
    if width * height > max_pixels:
        raise OcrError(
            f"{what} is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,} "
            "(possible decompression bomb)"
        )


def check_image_header(head: bytes, *, max_pixels: int) -> None:
    """Raise OcrError if the image header in head already declares more than max_pixels."""
    if sniff_media_type(head) in (None, "application/pdf"):
        return
    try:
        with _quiet_bomb_checks(), Image.open(io.BytesIO(head)) as image:
            size = image.size
    except Image.DecompressionBombError as exc:
        raise OcrError(f"image header declares too many pixels: {exc}") from exc
    except Exception:
        return  # the header is not all there yet; the whole file is checked again by count_pages
    check_pixels(*size, max_pixels=max_pixels)


@contextmanager
def open_image(path: Path, *, max_pixels: int) -> Iterator[Image.Image]:
    """Open path lazily (header only), turning Pillow's errors into OcrError."""
    try:
        with _quiet_bomb_checks():
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise OcrError(f"image declares too many pixels: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise OcrError(f"cannot read image: {exc}") from exc
    with image:
        check_pixels(*image.size, max_pixels=max_pixels)
        yield image


def count_frames(path: Path, *, max_pages: int, max_pixels: int) -> int:
    """Return the number of frames (pages) in an image file after checking each frame's size."""
    with open_image(path, max_pixels=max_pixels) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > max_pages:
            raise OcrError(f"image has {frames} pages; the limit is {max_pages}")
        try:
            for index in range(frames):
                image.seek(index)
                check_pixels(*image.size, max_pixels=max_pixels, what=f"page {index + 1}")
            if frames == 1:
                # verify() walks the whole stream (PNG checks every chunk CRC) without decoding pixels.
                image.verify()
        except _DECODE_ERRORS as exc:
            raise OcrError(f"image is corrupt or truncated: {exc}") from exc
    return frames


def iter_frames(
    path: Path, *, max_pages: int, max_pixels: int, first_page: int = 1
) -> Iterator[tuple[int, Image.Image, int]]:
    """Yield (page number, prepared frame, dpi) from first_page on, one decoded frame at a time."""
    with open_image(path, max_pixels=max_pixels) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > max_pages:
            raise OcrError(f"image has {frames} pages; the limit is {max_pages}")
        for index in range(first_page - 1, frames):
            try:
                image.seek(index)
                check_pixels(*image.size, max_pixels=max_pixels, what=f"page {index + 1}")
                frame, reduction = decode_reduced(image)
                upright, dpi = prepare(frame)
                prepared = (index + 1, upright, max(1, round(dpi / reduction)))
            except _DECODE_ERRORS as exc:
                raise OcrError(f"page {index + 1} is corrupt or truncated: {exc}") from exc
            except MemoryError as exc:
                raise OcrError(f"page {index + 1} is too large to decode") from exc
            yield prepared
            del prepared  # one decoded page at a time: let this one go before decoding the next


def decode_reduced(image: Image.Image) -> tuple[Image.Image, int]:
    """Decode the current frame, at 1/n of its size when it has n*n times WORKING_PIXELS or more,
    and return it with n. A JPEG is decoded straight at the smaller size (DCT scaling), never whole."""
    width, height = image.size
    reduction = max(1, int((width * height / WORKING_PIXELS) ** 0.5))
    if reduction == 1:
        image.load()
        return image, 1
    if image.format == "JPEG":
        # draft() picks the largest DCT scale (1/2, 1/4, 1/8) that keeps at least the size asked for.
        image.draft(image.mode, (width // reduction, height // reduction))
        image.load()
        return image, round(width / image.width)
    image.load()
    return image.reduce(reduction), reduction


def prepare(image: Image.Image) -> tuple[Image.Image, int]:
    """Return the frame upright, as L or RGB on white, and the resolution to tell Tesseract."""
    dpi = image_dpi(image)
    upright = ImageOps.exif_transpose(image) or image
    return _to_l_or_rgb(upright), dpi


def image_dpi(image: Image.Image) -> int:
    """Return the image's own DPI when present and plausible, else 300."""
    try:
        value = round(float(image.info["dpi"][0]))
    except (KeyError, TypeError, ValueError, IndexError):
        return DEFAULT_DPI
    return value if _MIN_DPI <= value <= _MAX_DPI else DEFAULT_DPI


def _to_l_or_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit and float scans: stretch to 8 bits rather than clip everything to white.
        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.full_like(pixels, 255.0)
        return Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in ("LA", "PA", "RGBA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas are paper: flatten onto white, not the black that convert() would give.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("L" if image.mode in ("P",) and _is_gray_palette(image) else "RGB")


def _is_gray_palette(image: Image.Image) -> bool:
    palette = image.getpalette() or []
    triples = zip(palette[0::3], palette[1::3], palette[2::3], strict=False)
    return all(r == g == b for r, g, b in triples)


@contextmanager
def _quiet_bomb_checks() -> Iterator[None]:
    # Pillow's own bomb check is a warning below 2x its default; our max_pixels is the real cap.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield
