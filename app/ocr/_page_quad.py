"""Page detection in a photo: the quadrilateral of paper against a desk, or None when unsure.

Works on a small copy (about 640 pixels a side): ink is closed away so only the page's outline
and the desk's edges remain, the outline is taken from the edges' contours, and a candidate is
kept only if its sides are really edges, its corners lie inside the frame (a page running off the
frame is not cropped) and no ink lies outside it (text is never cut away).
"""

from __future__ import annotations

import cv2
import numpy as np

_INK_CLOSE = 9  # pixels at the work size: wider than any stroke, so text disappears
_MIN_AREA, _MAX_AREA = 0.15, 0.97  # share of the frame a detected page may cover
_FRAME_MARGIN = 0.01  # corners this close to the frame's edge mean the page runs off it
_MIN_ANGLE, _MAX_ANGLE = 50.0, 130.0  # a page's corners seen at up to ~30 degrees of tilt
_EDGE_SUPPORT = 0.6  # share of each side that must lie on an edge
_INK_CONTRAST = 40  # grey levels darker than the surrounding paper that count as ink
_INK_OUTSIDE = 0.01  # share of the ink that may lie outside the page (specks on the desk)
_CANDIDATES = 8


def find_page(small: np.ndarray, small_gray: np.ndarray) -> np.ndarray | None:
    """Return the page's corners (tl, tr, br, bl) in small's pixels, or None if not confident."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_INK_CLOSE, _INK_CLOSE))
    closed = cv2.morphologyEx(small_gray, cv2.MORPH_CLOSE, kernel)
    edges = _edges(cv2.GaussianBlur(closed, (5, 5), 0))
    masks = [_otsu(closed) > 0]  # paper is the bright side
    if small.ndim == 3:
        # Paper is grey, wood and cloth are coloured; and a shadow darkens both without changing
        # their saturation, so it still tells the page from the desk where brightness no longer does.
        saturation = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1], 5)
        edges |= _edges(cv2.GaussianBlur(saturation, (5, 5), 0))
        masks.insert(0, _otsu(saturation) == 0)
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    ink = (closed.astype(np.int16) - small_gray.astype(np.int16)) > _INK_CONTRAST
    for corners in _candidates(masks, edges):
        if _plausible(corners, small_gray.shape) and _on_edges(corners, edges) and _holds_the_ink(corners, ink):
            return corners
    return None


def _candidates(masks: list[np.ndarray], edges: np.ndarray) -> list[np.ndarray]:
    """Corners (tl, tr, br, bl) of four-sided outlines: the largest paper-like region of each mask,
    then the edges' largest contours."""
    frame = edges.shape[0] * edges.shape[1]
    outlines = []
    for mask in masks:
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if contours:
            outlines.append(max(contours, key=cv2.contourArea))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outlines += sorted(contours, key=cv2.contourArea, reverse=True)[:_CANDIDATES]
    quads = []
    for outline in outlines:
        hull = cv2.convexHull(outline)
        perimeter = cv2.arcLength(hull, True)
        for tolerance in (0.01, 0.02, 0.03, 0.05):
            quad = cv2.approxPolyDP(hull, tolerance * perimeter, True)
            if len(quad) <= 4:
                break
        if len(quad) == 4 and _MIN_AREA <= cv2.contourArea(quad) / frame <= _MAX_AREA:
            quads.append(_fitted(_ordered(quad.reshape(4, 2).astype(np.float64)), outline.reshape(-1, 2)))
    return quads


def _fitted(corners: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Corners where lines fitted to the outline's points along each side meet: the polygon's own
    vertices sit on rounded or blurred corners, a pixel or two inside the real sides."""
    lines = []
    for index in range(4):
        start, end = corners[index], corners[(index + 1) % 4]
        direction = (end - start) / (np.linalg.norm(end - start) + 1e-9)
        relative = outline - start
        along = relative @ direction
        across = np.abs(relative @ np.array([-direction[1], direction[0]]))
        length = np.linalg.norm(end - start)
        near = (along > 0.1 * length) & (along < 0.9 * length) & (across < 0.03 * length + 2)
        if near.sum() < 10:
            return corners
        vx, vy, x0, y0 = cv2.fitLine(outline[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    fitted = []
    for index in range(4):
        (p, u), (q, v) = lines[index - 1], lines[index]
        matrix = np.column_stack([u, -v])
        if abs(np.linalg.det(matrix)) < 1e-6:
            return corners
        t, _ = np.linalg.solve(matrix, q - p)
        fitted.append(p + t * u)
    return np.array(fitted)


def _otsu(channel: np.ndarray) -> np.ndarray:
    _, split = cv2.threshold(channel, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return split


def _edges(gray: np.ndarray) -> np.ndarray:
    """Canny with thresholds from the image's own median, so dim and bright photos behave alike."""
    median = float(np.median(gray))
    return cv2.Canny(gray, max(10.0, 0.5 * median), max(30.0, 1.2 * median))


def _ordered(points: np.ndarray) -> np.ndarray:
    """Corners clockwise from the top-left one."""
    centre = points.mean(axis=0)
    clockwise = points[np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))]
    first = int(np.argmin(clockwise.sum(axis=1)))
    return np.roll(clockwise, -first, axis=0)


def _plausible(corners: np.ndarray, shape: tuple[int, int]) -> bool:
    """Convex, with page-like corner angles, and whole inside the frame."""
    height, width = shape
    margin_x, margin_y = _FRAME_MARGIN * width, _FRAME_MARGIN * height
    xs, ys = corners[:, 0], corners[:, 1]
    if (
        xs.min() < margin_x
        or ys.min() < margin_y
        or xs.max() > width - 1 - margin_x
        or ys.max() > height - 1 - margin_y
    ):
        return False
    if not cv2.isContourConvex(corners.astype(np.float32).reshape(-1, 1, 2)):
        return False
    for index in range(4):
        before, here, after = corners[index - 1], corners[index], corners[(index + 1) % 4]
        a, b = before - here, after - here
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        if not _MIN_ANGLE <= np.degrees(np.arccos(np.clip(cosine, -1, 1))) <= _MAX_ANGLE:
            return False
    return True


def _on_edges(corners: np.ndarray, edges: np.ndarray) -> bool:
    """Every side runs along detected edges for most of its length (not a hull over clutter)."""
    for index in range(4):
        start, end = corners[index], corners[(index + 1) % 4]
        # The middle of the side: corners themselves are often rounded or shadowed.
        steps = np.linspace(0.1, 0.9, 64)[:, None]
        points = np.round(start + (end - start) * steps).astype(np.int64)
        points[:, 0] = np.clip(points[:, 0], 0, edges.shape[1] - 1)
        points[:, 1] = np.clip(points[:, 1], 0, edges.shape[0] - 1)
        if float((edges[points[:, 1], points[:, 0]] > 0).mean()) < _EDGE_SUPPORT:
            return False
    return True


def _holds_the_ink(corners: np.ndarray, ink: np.ndarray) -> bool:
    """No more than a speck of the ink lies outside the quadrilateral (grown a little)."""
    total = int(ink.sum())
    if total == 0:
        return True
    inside = np.zeros(ink.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    grown = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7)))
    outside = int((ink & (grown == 0)).sum())
    return outside <= _INK_OUTSIDE * total
