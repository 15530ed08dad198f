"""Finding a card lying on a background in a photo, and straightening it (Pillow and numpy only)."""

from __future__ import annotations

import numpy as np
from PIL import Image

CR80_ASPECT = 85.6 / 53.98
# Colour change (RGB distance over two pixels of a 200-px-wide copy) the background fill may not cross.
_EDGE_STEP = 18.0


def _flood(seeds: np.ndarray, passable: np.ndarray) -> np.ndarray:
    """Pixels of `passable` 4-connected to `seeds`."""
    region = seeds & passable
    for _ in range(sum(region.shape)):
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= passable
        if np.array_equal(grown, region):
            break
        region = grown
    return region


def find_card(image: Image.Image) -> list[tuple[float, float]] | None:
    """Corners (tl, tr, br, bl) of a card lying on a background, or None when the image is the card.

    Flood-fills the background inward from the image border. The fill crosses only gentle colour
    steps (a desk's shading) and stays near the border's colour, so it stops at the card's sharp
    edge even where a dark header band is close to the desk's colour. What it cannot reach is the
    card; its extreme points along the two diagonals are the corners.
    """
    small_width = 200
    scale = image.width / small_width
    small = image.resize((small_width, max(1, round(image.height / scale))), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    reference = np.median(border, axis=0)
    # Loose on colour (a desk's shading varies a lot), strict on edges (a card's outline is sharp).
    near_border_colour = np.linalg.norm(pixels - reference, axis=2) < 130
    # Central differences span two pixels, so an edge softened over two pixels still shows as one.
    gradient = np.zeros(near_border_colour.shape, dtype=np.float32)
    gradient[1:-1] = np.linalg.norm(pixels[2:] - pixels[:-2], axis=2)
    gradient[:, 1:-1] = np.maximum(gradient[:, 1:-1], np.linalg.norm(pixels[:, 2:] - pixels[:, :-2], axis=2))
    edge = gradient >= _EDGE_STEP

    seeds = np.zeros(edge.shape, dtype=bool)
    for side in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        seeds[side] = True
    outside = _flood(seeds & near_border_colour & ~edge, near_border_colour & ~edge)
    # The card is what the centre of the photo connects to once the background is gone; stray
    # specks the fill could not reach are not.
    centre = np.zeros(edge.shape, dtype=bool)
    h, w = edge.shape
    centre[h // 2 - 2 : h // 2 + 3, w // 2 - 2 : w // 2 + 3] = True
    inside = _flood(centre & ~outside, ~outside)
    share = inside.mean()
    if share < 0.25 or share > 0.97:
        return None
    ys, xs = np.nonzero(inside)
    sums, diffs = xs + ys, xs - ys
    corners = [
        (xs[sums.argmin()], ys[sums.argmin()]),
        (xs[diffs.argmax()], ys[diffs.argmax()]),
        (xs[sums.argmax()], ys[sums.argmax()]),
        (xs[diffs.argmin()], ys[diffs.argmin()]),
    ]
    quad = np.array(corners, dtype=np.float32) + 0.5
    # A card is a filled quadrilateral of card proportions; anything else (a fill that leaked into
    # the card, a cluttered background) is better left to the deskew step.
    if not _card_shaped(quad) or abs(_area(quad) - inside.sum()) > 0.2 * _area(quad):
        return None
    refined = _refine_corners(inside, quad)
    # A dark header band on a dark desk can vanish into the background, leaving a card too wide for
    # its height; reading the whole photo then beats cutting the payer's name off.
    if not _card_shaped(refined):
        return None
    return [(float(cx) * scale, float(cy) * scale) for cx, cy in refined]


def _area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _card_shaped(quad: np.ndarray) -> bool:
    """Whether a quadrilateral (tl, tr, br, bl) has about the proportions of a CR80 card."""
    width = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    return 1.42 <= width / max(height, 1.0) <= 1.76


def _fit_line(along: np.ndarray, across: np.ndarray) -> tuple[float, float] | None:
    """The line across = a * along + b that most points lie on (within 1.5 px), refined by least squares.

    Candidate lines run through fixed pairs of points, so the result is deterministic; points off
    the card's edge (a stretch where the edge was too faint and text was hit instead) are outvoted.
    """
    count = len(along)
    if count < 8:
        return None
    best_inliers: np.ndarray | None = None
    step = max(1, count // 12)
    for first in range(0, count, step):
        for second in range(first + count // 3, count, step):
            if along[second] == along[first]:
                continue
            slope = (across[second] - across[first]) / (along[second] - along[first])
            intercept = across[first] - slope * along[first]
            inliers = np.abs(across - (slope * along + intercept)) <= 1.5
            if best_inliers is None or inliers.sum() > best_inliers.sum():
                best_inliers = inliers
    if best_inliers is None or best_inliers.sum() < max(8, 0.4 * count):
        return None
    slope, intercept = np.polyfit(along[best_inliers], across[best_inliers], 1)
    return float(slope), float(intercept)


def _refine_corners(inside: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Corners where lines fitted to the card mask's four sides meet: steadier than four extreme pixels.

    Each side is sampled along the middle three quarters of the rough outline; a stretch where the
    background fill leaked into the card is outvoted by the rest of the side.
    """
    tl, tr, br, bl = quad
    height, width = inside.shape
    rows_any: np.ndarray = np.asarray(inside.any(axis=1))
    cols_any: np.ndarray = np.asarray(inside.any(axis=0))

    def span(start: float, end: float, limit: int) -> np.ndarray:
        low, high = sorted((start, end))
        margin = 0.12 * (high - low)
        return np.arange(max(0, int(low + margin)), min(limit, int(high - margin)))

    columns = span(max(tl[0], bl[0]), min(tr[0], br[0]), width)
    rows = span(max(tl[1], tr[1]), min(bl[1], br[1]), height)
    columns = columns[cols_any[columns]]
    rows = rows[rows_any[rows]]
    top = inside[:, columns].argmax(axis=0).astype(np.float64)
    bottom = (height - 1 - inside[::-1, columns].argmax(axis=0)).astype(np.float64) + 1.0
    left = inside[rows].argmax(axis=1).astype(np.float64)
    right = (width - 1 - inside[rows, ::-1].argmax(axis=1)).astype(np.float64) + 1.0
    # Pixels of the small copy that straddle the card's edge count as card: measured over many
    # photos, each side lands about one such pixel outside the true edge, so step in by one.
    lines = (
        _fit_line(columns + 0.5, top + 1.0),
        _fit_line(rows + 0.5, right - 1.0),
        _fit_line(columns + 0.5, bottom - 1.0),
        _fit_line(rows + 0.5, left + 1.0),
    )
    if any(line is None for line in lines):
        return quad
    top_line, right_line, bottom_line, left_line = lines

    def meet(horizontal: tuple[float, float] | None, vertical: tuple[float, float] | None) -> tuple[float, float]:
        # y = a x + b meets x = c y + d.
        a, b = horizontal  # type: ignore[misc]
        c, d = vertical  # type: ignore[misc]
        y = (a * d + b) / (1 - a * c)
        return c * y + d, y

    refined = np.array(
        [
            meet(top_line, left_line),
            meet(top_line, right_line),
            meet(bottom_line, right_line),
            meet(bottom_line, left_line),
        ]
    )
    # The rough outline may have lost a corner to a leak, so only a wild disagreement vetoes the fit.
    if np.abs(refined - quad).max() > 0.1 * width:
        return quad
    return refined


def perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
    rows, values = [], []
    for (sx, sy), (tx, ty) in zip(source, target, strict=True):
        rows.append([tx, ty, 1, 0, 0, 0, -sx * tx, -sx * ty])
        rows.append([0, 0, 0, tx, ty, 1, -sy * tx, -sy * ty])
        values += [sx, sy]
    return [float(v) for v in np.linalg.solve(np.array(rows), np.array(values))]


def warp_card(image: Image.Image, corners: list[tuple[float, float]]) -> Image.Image:
    """Cut the card out of the photo and straighten it to a CR80 rectangle."""
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = corners
    width = max(np.hypot(trx - tlx, try_ - tly), np.hypot(brx - blx, bry - bly))
    width = round(width)
    height = round(width / CR80_ASPECT)
    # Pull the corners in a little so the card's own edge does not become a dark line.
    inset = 0.01
    target = [(0, 0), (width, 0), (width, height), (0, height)]
    source = [
        (tlx + (trx - tlx) * inset + (blx - tlx) * inset, tly + (try_ - tly) * inset + (bly - tly) * inset),
        (trx - (trx - tlx) * inset + (brx - trx) * inset, try_ - (try_ - tly) * inset + (bry - try_) * inset),
        (brx - (brx - blx) * inset - (brx - trx) * inset, bry - (bry - bly) * inset - (bry - try_) * inset),
        (blx + (brx - blx) * inset - (blx - tlx) * inset, bly + (bry - bly) * inset - (bly - tly) * inset),
    ]
    coefficients = perspective_coefficients(source, [(float(x), float(y)) for x, y in target])
    return image.transform((width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
