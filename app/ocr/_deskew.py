"""Deskew by projection profile: text lines are straight when the row sums are most uneven."""

from __future__ import annotations

import numpy as np
from PIL import Image

_WORK_WIDTH = 1200  # downscaled width for the search; enough to resolve 0.05 degrees over a page
_MAX_ANGLE = 5.0
_COARSE_STEP = 0.5
_FINE_STEP = 0.05
_MIN_ANGLE = 0.1  # below this, rotating (and resampling) the page costs more than it gains
_MIN_INK = 200  # pixels; fewer means a blank page with nothing to align


def skew_angle(image: Image.Image) -> float:
    """Return the angle in degrees (counter-clockwise) by which the text lines are tilted."""
    ys, xs = _ink_coordinates(image)
    if xs.size < _MIN_INK:
        return 0.0
    coarse = np.arange(-_MAX_ANGLE, _MAX_ANGLE + _COARSE_STEP / 2, _COARSE_STEP)
    best = _best_angle(xs, ys, coarse)
    fine = np.arange(best - _COARSE_STEP, best + _COARSE_STEP + _FINE_STEP / 2, _FINE_STEP)
    return float(_best_angle(xs, ys, fine))


def deskew(image: Image.Image) -> tuple[Image.Image, float]:
    """Return image rotated so its text lines are horizontal (white fill, canvas expanded), and the angle."""
    angle = skew_angle(image)
    if abs(angle) < _MIN_ANGLE:
        return image, 0.0
    white = 255 if image.mode == "L" else (255,) * len(image.getbands())
    # Pillow rotates counter-clockwise, so undo a counter-clockwise tilt with a negative angle.
    straight = image.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=white)
    return straight, angle


def _ink_coordinates(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Return row and column indices of dark pixels in a downscaled, binarised copy."""
    gray = image.convert("L")
    scale = min(1.0, _WORK_WIDTH / max(gray.width, 1))
    if scale < 1.0:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(gray)
    ys, xs = np.nonzero(pixels < _otsu_threshold(pixels))
    return ys.astype(np.float64), xs.astype(np.float64) - gray.width / 2


def _otsu_threshold(pixels: np.ndarray) -> int:
    histogram = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    weight_low = np.cumsum(histogram)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(histogram * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass_low / weight_low
        mean_high = (mass_low[-1] - mass_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    if np.isnan(between).all():
        return 0  # a single grey level: nothing is darker than the page
    return int(np.nanargmax(between)) + 1


def _best_angle(xs: np.ndarray, ys: np.ndarray, angles: np.ndarray) -> float:
    """Return the angle whose sheared row profile has the largest variance."""
    # For small angles a rotation moves a pixel's row by about x * tan(angle); shearing the
    # coordinates is much cheaper than rotating the bitmap once per candidate.
    margin = np.abs(xs).max() * np.tan(np.radians(_MAX_ANGLE + 1)) + 1
    length = int(ys.max() + 2 * margin) + 2  # one profile length for all angles keeps variances comparable
    scores = []
    for angle in angles:
        rows = np.round(ys + xs * np.tan(np.radians(angle)) + margin).astype(np.int64)
        scores.append(np.bincount(rows, minlength=length).var())
    return float(angles[int(np.argmax(scores))])
