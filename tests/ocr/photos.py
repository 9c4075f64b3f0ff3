"""Phone-photo-like pictures of clean pages: the page in perspective on a desk, uneven light, a
hard shadow, blur and JPEG noise, each optional and all drawn from one seed (same seed, same bytes)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PAPER = (246, 243, 236)  # slightly warm office paper, not pure white
PHOTO_SIZE = (3000, 4000)  # 12 MP, portrait, as a phone takes a page


@dataclass(frozen=True, slots=True)
class Distortions:
    """What the camera and the room do to a page; the defaults leave it a flat scan."""

    tilt: float = 0.0  # degrees between the camera's axis and the page's normal; > 0 puts the page on a desk
    fill: float = 0.75  # share of the frame the page spans, along its tighter side (> 1: it overflows)
    gradient: float = 0.0  # light falls from 1 to 1 - gradient across the picture
    shadow: float = 0.0  # a hard shadow (a hand, the phone) darkens part of it by this share
    blur: float = 0.0  # Gaussian sigma in pixels (slight defocus or hand shake)
    jpeg_quality: int | None = None  # saved once as JPEG at this quality


def photograph(
    page: Image.Image, distortions: Distortions, *, seed: int, size: tuple[int, int] = PHOTO_SIZE
) -> Image.Image:
    """Return an RGB picture of page with the distortions applied, the same for the same seed."""
    rng = np.random.default_rng(seed)
    paper = _on_paper(page)
    if distortions.tilt > 0 or distortions.fill > 1:
        pixels = _on_desk(paper, distortions, rng, size)
    else:
        pixels = paper.astype(np.float32)
    if distortions.gradient > 0:
        pixels *= _gradient(pixels.shape[:2], distortions.gradient, rng)[..., None]
    if distortions.shadow > 0:
        pixels *= _shadow(pixels.shape[:2], distortions.shadow, rng)[..., None]
    if distortions.blur > 0:
        pixels = cv2.GaussianBlur(pixels, (0, 0), distortions.blur)
    picture = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), mode="RGB")
    if distortions.jpeg_quality is not None:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=distortions.jpeg_quality)
        picture = Image.open(io.BytesIO(buffer.getvalue()))
        picture.load()
    return picture


def _on_paper(page: Image.Image) -> np.ndarray:
    """Black ink on slightly coloured paper, as RGB."""
    ink = np.asarray(page.convert("L"), dtype=np.float32) / 255.0
    return (ink[..., None] * np.array(PAPER, dtype=np.float32)).astype(np.uint8)


def _on_desk(paper: np.ndarray, d: Distortions, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    corners = _projected_corners(paper.shape[1], paper.shape[0], d.tilt, rng)
    # Fit the projected page into the frame at the requested share, centred with some jitter.
    span = corners.max(axis=0) - corners.min(axis=0)
    scale = d.fill * min(width / span[0], height / span[1])
    corners = (corners - corners.min(axis=0)) * scale
    room = np.array([width, height]) - span * scale
    offset = room / 2 + rng.uniform(-0.3, 0.3, size=2) * np.maximum(room, 0) / 2
    corners += offset
    source = np.array([[0, 0], [paper.shape[1], 0], [paper.shape[1], paper.shape[0]], [0, paper.shape[0]]])
    matrix = cv2.getPerspectiveTransform(source.astype(np.float32), corners.astype(np.float32))
    desk = _desk((height, width), rng)
    warped = cv2.warpPerspective(paper, matrix, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full(paper.shape[:2], 255, np.uint8), matrix, (width, height), flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    return warped.astype(np.float32) * alpha + desk * (1 - alpha)


def _projected_corners(width: int, height: int, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """The page's corners seen by a pinhole camera tilted by `tilt` degrees, in image units."""
    # Tilt about a random axis in the page plane, plus a small turn of the page on the desk.
    axis = rng.uniform(0, 2 * math.pi)
    turn = math.radians(rng.uniform(-6, 6))
    centred = np.array([[-width, -height], [width, -height], [width, height], [-width, height]], dtype=np.float64) / 2
    turned = centred @ np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]]).T
    points = np.column_stack([turned, np.zeros(4)])
    ux, uy = math.cos(axis), math.sin(axis)
    rotation, _ = cv2.Rodrigues(np.array([ux, uy, 0.0]) * math.radians(tilt))
    rotated = points @ rotation.T
    focal = 1.2 * max(width, height)  # a phone's wide lens held about a page's length away
    depth = rotated[:, 2] + 1.6 * max(width, height)
    return rotated[:, :2] * (focal / depth)[:, None]


def _desk(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A wooden desk: brown, with grain along one direction and slow blotches."""
    height, width = shape
    base = np.array(rng.choice([(128, 88, 58), (96, 68, 48), (150, 112, 78)]), dtype=np.float32)
    blotches = cv2.resize(rng.normal(0, 1, (12, 9)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    grain = cv2.resize(rng.normal(0, 1, (height // 4, 8)).astype(np.float32), (width, height))
    light = 1 + 0.08 * blotches + 0.06 * grain
    return base * light[..., None]


def _gradient(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    height, width = shape
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    along = xs * math.cos(angle) + ys * math.sin(angle)
    along = (along - along.min()) / max(float(along.max() - along.min()), 1.0)
    return 1.0 - strength * along


def _shadow(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """A hard-edged dark wedge from one side, as a hand or the phone casts it under a ceiling light."""
    height, width = shape
    side = rng.integers(4)
    depth = rng.uniform(0.25, 0.4)
    a, b = sorted(rng.uniform(0.1, 0.9, size=2))
    if side == 0:  # from the left edge
        polygon = [(0, a * height), (depth * width, (a + b) / 2 * height), (0, b * height + 0.2 * height)]
    elif side == 1:  # from the right edge
        polygon = [(width, a * height), ((1 - depth) * width, (a + b) / 2 * height), (width, b * height + 0.2 * height)]
    elif side == 2:  # from the top
        polygon = [(a * width, 0), ((a + b) / 2 * width, depth * height), (b * width + 0.2 * width, 0)]
    else:  # from the bottom
        polygon = [(a * width, height), ((a + b) / 2 * width, (1 - depth) * height), (b * width + 0.2 * width, height)]
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.array(polygon, dtype=np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0)  # hard, but not aliased
    return 1.0 - strength * mask
