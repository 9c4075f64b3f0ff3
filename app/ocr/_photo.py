"""Phone photos made to read like scans: find the page, flatten it, even out the light, binarize.

A pure function of the image, run per page before deskew. A flat scan (paper-white margins, even
light) is returned as the very same object; a photo is warped to the page's own rectangle when the
page is found with confidence, or kept whole when it is not (a page filling the frame is never
cropped); either way its lighting is divided out and it is binarized with Sauvola's local threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from app.ocr._page_quad import find_page
from app.ocr._types import OcrError

# One OCR engine runs per worker process and per core: OpenCV's own thread pool would only
# make the processes fight over the same cores.
cv2.setNumThreads(1)

_WORK_SIDE = 640  # long side of the copy the decisions are made on
_BORDER = 0.03  # share of each side that a scan's margin must fill with paper
_PAPER_TOLERANCE = 28  # grey levels a margin pixel may sit below the paper's brightness
_SCAN_MARGIN_SHARE = 0.97  # share of margin pixels that must be paper for a flat scan
_SCAN_EVENNESS = 0.9  # darkest over brightest background level that still counts as even light
_BACKGROUND_SIDE = 700  # long side at which the background (paper without ink) is estimated
_NOISE_PATCH = 128
_NOISE_STD = 24.0  # grey levels of 3x3 local spread above which a pixel is "busy"
_NOISE_SHARE = 0.6  # a page is text on paper, mostly calm; pure noise is busy everywhere
_SAUVOLA_K = 0.2  # low enough that thin strokes (शिरोरेखा, matras) stay ink after flattening
_SAUVOLA_R = 128.0
_EDGE_BAND = 0.015  # share of each side searched for the desk's sliver after the warp


@dataclass(frozen=True, slots=True)
class Flattened:
    """What the photo stage made of one page."""

    image: Image.Image
    kind: Literal["scan", "page", "whole"]  # left as is / page found and warped / no page found: light only
    corners: tuple[tuple[float, float], ...] | None = None  # the page found, in the input's pixels


def flatten_photo(image: Image.Image) -> Flattened:
    """Return the page ready for deskew and OCR, and what was done to it."""
    gray = np.asarray(image.convert("L"))
    _refuse_noise(gray)
    small, scale = _work_copy(image)
    small_gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
    if _is_flat_scan(small_gray):
        return Flattened(image, "scan")
    quad = find_page(small, small_gray)
    if quad is None:
        return Flattened(Image.fromarray(_binarize(_even_light(gray)), mode="L"), "whole")
    corners = quad / scale
    page = _clear_edge_lines(_binarize(_even_light(_warp(gray, corners))))
    return Flattened(Image.fromarray(page, mode="L"), "page", tuple((float(x), float(y)) for x, y in corners))


def _refuse_noise(gray: np.ndarray) -> None:
    """Raise OcrError for random pixels: no calm paper in any of nine patches spread over the image
    (a page, even one with a halftone picture, has paper somewhere)."""
    height, width = gray.shape
    for row in range(3):
        for column in range(3):
            top = max(0, (2 * row + 1) * height // 6 - _NOISE_PATCH // 2)
            left = max(0, (2 * column + 1) * width // 6 - _NOISE_PATCH // 2)
            patch = gray[top : top + _NOISE_PATCH, left : left + _NOISE_PATCH].astype(np.float32)
            mean = cv2.blur(patch, (3, 3))
            spread = np.sqrt(np.maximum(cv2.blur(patch * patch, (3, 3)) - mean * mean, 0))
            if not patch.size or float((spread > _NOISE_STD).mean()) <= _NOISE_SHARE:
                return
    raise OcrError("the image looks like noise, not a page: no paper or text found to read")


def _work_copy(image: Image.Image) -> tuple[np.ndarray, float]:
    """A small RGB (or L) copy for decisions, and its scale from the original."""
    scale = min(1.0, _WORK_SIDE / max(image.size))
    pixels = np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return pixels, scale


def _is_flat_scan(small_gray: np.ndarray) -> bool:
    """Paper-white margins all round and an even background: a scanner's (or a PDF's) page."""
    height, width = small_gray.shape
    band_y, band_x = max(1, round(height * _BORDER)), max(1, round(width * _BORDER))
    margin = np.concatenate(
        [
            small_gray[:band_y].ravel(),
            small_gray[-band_y:].ravel(),
            small_gray[:, :band_x].ravel(),
            small_gray[:, -band_x:].ravel(),
        ]
    )
    paper = float(np.percentile(small_gray, 95))
    if float((margin >= paper - _PAPER_TOLERANCE).mean()) < _SCAN_MARGIN_SHARE:
        return False
    background = _background(small_gray, kernel=9)
    low, high = np.percentile(background, [1, 99])
    return float(low) >= _SCAN_EVENNESS * float(high)


def _background(gray: np.ndarray, *, kernel: int) -> np.ndarray:
    """The paper without its ink: a closing wider than any stroke, then smoothed."""
    shape = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    closed = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, shape)
    return cv2.GaussianBlur(closed, (0, 0), kernel / 4)


def _warp(gray: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The quadrilateral corners (tl, tr, br, bl) warped to an upright rectangle of its own proportions."""
    tl, tr, br, bl = corners
    width = round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(gray, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _even_light(gray: np.ndarray) -> np.ndarray:
    """Divide out the background so shadows and gradients become white paper."""
    height, width = gray.shape
    scale = min(1.0, _BACKGROUND_SIDE / max(height, width))
    small = cv2.resize(
        gray, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    background = cv2.resize(_background(small, kernel=7), (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(background, 1), scale=255)


def _binarize(gray: np.ndarray) -> np.ndarray:
    """Sauvola: a threshold from each pixel's neighbourhood mean and spread, with a window about a line high."""
    window = max(15, (max(gray.shape) // 60) | 1)
    pixels = gray.astype(np.float32)
    mean = cv2.boxFilter(pixels, -1, (window, window))
    square = cv2.boxFilter(pixels * pixels, -1, (window, window))
    spread = np.sqrt(np.maximum(square - mean * mean, 0))
    threshold = mean * (1 + _SAUVOLA_K * (spread / _SAUVOLA_R - 1))
    return np.where(pixels > threshold, 255, 0).astype(np.uint8)


def _clear_edge_lines(binary: np.ndarray) -> np.ndarray:
    """Whiten the desk's slivers that the corners missed by a pixel or two: ink within a narrow band
    along a side that touches the image's edge (a letter there would already be cut by the paper)."""
    height, width = binary.shape
    band_y, band_x = max(2, round(height * _EDGE_BAND)), max(2, round(width * _EDGE_BAND))
    cleared = binary.copy()
    strips = [
        (cleared[:band_y], lambda labels: labels[0]),
        (cleared[height - band_y :], lambda labels: labels[-1]),
        (cleared[:, :band_x], lambda labels: labels[:, 0]),
        (cleared[:, width - band_x :], lambda labels: labels[:, -1]),
    ]
    for strip, outer_edge in strips:
        _, labels = cv2.connectedComponents((strip == 0).astype(np.uint8), connectivity=8)
        touching = np.unique(outer_edge(labels))
        touching = touching[touching != 0]
        if touching.size:
            strip[np.isin(labels, touching)] = 255  # a view: writes through to cleared
    return cleared
