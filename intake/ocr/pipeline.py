"""Card photo → clean page → Tesseract words: validation, card finding, preprocessing, OCR calls.

Nothing here logs or raises with image bytes or recognised text: both are PHI.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from intake.ocr.extract import Box, Word

# Tesseract's OpenMP threads fight each other and the second card side on a 2-core box; one each
# is faster overall. Set before the first Tesseract process starts, which inherits it.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# A 48 MP phone sensor is the largest photo we expect; anything bigger is refused before decoding.
MAX_PIXELS = 50_000_000
MIN_SIDE = 120
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "MPO", "TIFF", "BMP"})
# Decode photos no larger than this on their long side: a card needs far fewer pixels.
DECODE_LONG_SIDE = 2400
# Body-text x-height Tesseract reads best at (its docs: accuracy drops under ~20 px).
TARGET_X_HEIGHT = 22
MAX_PAGE_PIXELS = 3_000_000
CR80_ASPECT = 85.6 / 53.98
# Colour change (RGB distance over two pixels of a 200-px-wide copy) the background fill may not cross.
_EDGE_STEP = 18.0
TESSERACT_TIMEOUT_SECONDS = 20
_PAGE_CONFIG = "--oem 1 --psm {psm} -c load_system_dawg=0 -c load_freq_dawg=0 -c tessedit_do_invert=0"


class CardImageError(ValueError):
    """The upload is not a card image we can read; the message is safe to show and to log."""


class OcrUnavailableError(RuntimeError):
    """Tesseract is missing or did not answer in time."""


@dataclass
class Page:
    """A card side ready for OCR: the grey page, its binarised form, and where the text sits."""

    gray: Image.Image
    binary: Image.Image
    card_found: bool
    x_height: float


# --- loading -------------------------------------------------------------------------------------


def load_image(data: bytes) -> Image.Image:
    """Decode an upload into an upright RGB image, refusing anything that is not a sane photo."""
    if not data:
        raise CardImageError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CardImageError("The file is larger than the upload limit.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise CardImageError("The file is not a supported image type (JPEG, PNG or WebP).")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise CardImageError("The image has too many pixels.")
            if min(width, height) < MIN_SIDE:
                raise CardImageError("The image is too small to read.")
            if image.format in ("JPEG", "MPO") and max(width, height) > DECODE_LONG_SIDE:
                # JPEG can decode straight to 1/2, 1/4 or 1/8 size, far cheaper than decoding then resizing.
                scale = max(width, height) / DECODE_LONG_SIDE
                image.draft("RGB", (int(width / scale), int(height / scale)))
            image.load()
    except CardImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise CardImageError("The image has too many pixels.") from error
    except UnidentifiedImageError as error:
        raise CardImageError("The file is not a readable image.") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CardImageError("The image file is truncated or corrupt.") from error
    # A broken orientation tag: read the pixels as stored.
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, SyntaxError):
        image = ImageOps.exif_transpose(image) or image
    if max(image.size) > DECODE_LONG_SIDE:
        image.thumbnail((DECODE_LONG_SIDE, DECODE_LONG_SIDE), Image.Resampling.BILINEAR)
    return image.convert("RGB")


# --- finding the card ----------------------------------------------------------------------------


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
    width = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    x, y = quad[:, 0], quad[:, 1]
    quad_area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    # A card is a filled quadrilateral of card proportions; anything else (a fill that leaked into
    # the card, a cluttered background) is better left to the deskew step.
    if not 1.42 <= width / max(height, 1) <= 1.76 or abs(quad_area - inside.sum()) > 0.2 * quad_area:
        return None
    refined = _refine_corners(inside, quad)
    return [(float(cx) * scale, float(cy) * scale) for cx, cy in refined]


def _fit_line(along: np.ndarray, across: np.ndarray) -> tuple[float, float] | None:
    """Least-squares line across = a * along + b, refitted without outliers (a leak, a rounded corner)."""
    if len(along) < 8:
        return None
    keep = np.ones(len(along), dtype=bool)
    slope, intercept = 0.0, 0.0
    for _ in range(3):
        slope, intercept = np.polyfit(along[keep], across[keep], 1)
        residual = np.abs(across - (slope * along + intercept))
        keep = residual <= max(1.5, float(np.median(residual)) * 3)
        if keep.sum() < 8:
            return None
    return float(slope), float(intercept)


def _refine_corners(inside: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Corners from lines fitted to each side of the card mask: steadier than four extreme pixels."""
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
    lines = (
        _fit_line(columns + 0.5, top),
        _fit_line(rows + 0.5, right),
        _fit_line(columns + 0.5, bottom),
        _fit_line(rows + 0.5, left),
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
    # Trust the fit only when it agrees with the rough corners.
    if np.abs(refined - quad).max() > 0.05 * width:
        return quad
    return refined


def _perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
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
    coefficients = _perspective_coefficients(source, [(float(x), float(y)) for x, y in target])
    return image.transform((width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


# --- preprocessing -------------------------------------------------------------------------------


def _box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size-by-size window, via an integral image (O(1) per pixel)."""
    half = max(1, size // 2)
    padded = np.pad(values, half + 1, mode="edge").astype(np.float64)
    integral = padded.cumsum(0).cumsum(1)
    h, w = values.shape
    a = integral[2 * half + 1 : 2 * half + 1 + h, 2 * half + 1 : 2 * half + 1 + w]
    b = integral[0:h, 2 * half + 1 : 2 * half + 1 + w]
    c = integral[2 * half + 1 : 2 * half + 1 + h, 0:w]
    d = integral[0:h, 0:w]
    return (a - b - c + d) / float((2 * half + 1) ** 2)


def otsu_threshold(values: np.ndarray) -> int:
    """The grey level that best separates ink from paper (Otsu's between-class variance)."""
    histogram = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    weights = histogram.cumsum()
    means = (histogram * np.arange(256)).cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (means[-1] * weights / total - means) ** 2 / (weights * (total - weights))
    return int(np.nanargmax(between[:-1]))


def invert_dark_regions(gray: np.ndarray, window: int) -> np.ndarray:
    """Turn light-on-dark areas (a coloured header band) into dark-on-light, as Tesseract wants.

    A pixel is in such an area when most of the window around it is ink-dark: true inside a band
    (even over its white letters) and never over ordinary dark text on a light card.
    """
    dark = (gray <= otsu_threshold(gray)).astype(np.float32)
    inside_band = _box_mean(dark, window) > 0.55
    if not inside_band.any():
        return gray
    out = gray.copy()
    out[inside_band] = 255 - out[inside_band]
    return out


def flatten_background(gray: Image.Image) -> Image.Image:
    """Divide out slow brightness changes (glare, shadow) so one threshold fits the whole card."""
    factor = 4
    small = gray.resize((max(1, gray.width // factor), max(1, gray.height // factor)), Image.Resampling.BOX)
    background = small.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.GaussianBlur(6))
    background = background.resize(gray.size, Image.Resampling.BILINEAR)
    page = np.asarray(gray, dtype=np.float32)
    paper = np.maximum(np.asarray(background, dtype=np.float32), 40.0)
    return Image.fromarray(np.clip(page / paper * 255.0, 0, 255).astype(np.uint8))


def estimate_x_height(binary: np.ndarray, strips: int = 6) -> float:
    """Typical x-height in pixels, from the heights of text rows in vertical strips of the page.

    Strips keep lines of neighbouring columns from merging. Card text is mostly capitals, so a
    row's height is close to the cap height; x-height is about 0.72 of that in DejaVu-like faces.
    """
    ink = binary < 128
    height, width = ink.shape
    rows: list[int] = []
    for index in range(strips):
        strip = ink[:, index * width // strips : (index + 1) * width // strips]
        inked = np.concatenate([[False], strip.sum(axis=1) > max(1, strip.shape[1] * 0.005), [False]])
        edges = np.diff(inked.astype(np.int8))
        rows.extend((np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]).tolist())
    plausible = [row for row in rows if 5 <= row <= height / 5]
    if len(plausible) < 3:
        return 0.0
    return 0.72 * float(np.median(plausible))


def deskew_angle(binary: np.ndarray, search: float, step: float = 0.5) -> float:
    """The rotation that makes text rows sharpest (largest variance of the row ink profile)."""
    image = Image.fromarray(binary)
    scale = 500 / max(image.width, 1)
    small = image.resize((500, max(1, round(image.height * scale))), Image.Resampling.BOX)
    ink = Image.fromarray((255 - np.asarray(small)).astype(np.uint8))

    def sharpness(angle: float) -> float:
        rotated = np.asarray(ink.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0), dtype=np.float32)
        return float(rotated.sum(axis=1).var())

    best = max(np.arange(-search, search + step / 2, step), key=sharpness)
    fine = max(np.arange(best - step / 2, best + step / 2 + 0.01, step / 4), key=sharpness)
    return float(fine)


def prepare_page(image: Image.Image) -> Page:
    """Grey, contrast, card cut-out, scale for Tesseract, deskew, flatten, invert bands, threshold."""
    corners = find_card(image)
    card_found = corners is not None
    if corners is not None:
        image = warp_card(image, corners)
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)

    # Measure letter size on a rough binarisation, then scale so x-height lands near the target.
    rough = np.asarray(gray)
    x_height = estimate_x_height(np.where(rough > otsu_threshold(rough), 255, 0).astype(np.uint8))
    scale = TARGET_X_HEIGHT / x_height if x_height else 1.0
    scale = min(max(scale, 0.5), 3.0)
    if gray.width * gray.height * scale * scale > MAX_PAGE_PIXELS:
        scale = (MAX_PAGE_PIXELS / (gray.width * gray.height)) ** 0.5
    if abs(scale - 1.0) > 0.08:
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.LANCZOS)
    x_height = x_height * scale if x_height else TARGET_X_HEIGHT

    pixels = np.asarray(gray)
    pixels = invert_dark_regions(pixels, window=max(15, int(x_height * 5)))
    gray = flatten_background(Image.fromarray(pixels))
    pixels = np.asarray(gray)
    binary = np.where(pixels > otsu_threshold(pixels), 255, 0).astype(np.uint8)

    angle = deskew_angle(binary, search=2.0 if card_found else 10.0)
    gray_image, binary_image = gray, Image.fromarray(binary)
    if abs(angle) >= 0.25:
        gray_image = gray.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        binary_image = binary_image.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=255)
    # A white border helps Tesseract with text that runs to the edge of a tight crop.
    gray_image = ImageOps.expand(gray_image, border=12, fill=255)
    binary_image = ImageOps.expand(binary_image, border=12, fill=255)
    return Page(gray=gray_image, binary=binary_image, card_found=card_found, x_height=x_height)


# --- Tesseract -----------------------------------------------------------------------------------


def tesseract_available() -> bool:
    """Whether the tesseract binary can be found."""
    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


def ocr_words(image: Image.Image, *, psm: int = 6, whitelist: str | None = None) -> list[Word]:
    """Run Tesseract on an image and return its words with boxes and confidences."""
    config = _PAGE_CONFIG.format(psm=psm)
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    try:
        data = pytesseract.image_to_data(
            image, lang="eng", config=config, output_type=pytesseract.Output.DICT, timeout=TESSERACT_TIMEOUT_SECONDS
        )
    except pytesseract.TesseractNotFoundError as error:
        raise OcrUnavailableError("Tesseract is not installed.") from error
    except RuntimeError as error:  # pytesseract's timeout
        raise OcrUnavailableError("Tesseract did not finish in time.") from error
    words = []
    for text, conf, left, top, width, height in zip(
        data["text"], data["conf"], data["left"], data["top"], data["width"], data["height"], strict=True
    ):
        if text and text.strip():
            words.append(Word(text.strip(), float(conf), int(left), int(top), int(width), int(height)))
    return words


@dataclass(frozen=True)
class Crop:
    """A region to read again, and the field it belongs to."""

    key: str
    box: Box


def reread(image: Image.Image, crops: list[Crop], *, whitelist: str, height: int = 64) -> dict[str, list[Word]]:
    """Read several small regions in one Tesseract call by stacking them on one strip."""
    if not crops:
        return {}
    pieces = []
    for crop in crops:
        region = image.crop((crop.box.left, crop.box.top, crop.box.right, crop.box.bottom))
        factor = height / max(region.height, 1)
        region = region.resize((max(1, round(region.width * factor)), height), Image.Resampling.LANCZOS)
        pieces.append(region)
    gap = height
    strip = Image.new("L", (max(p.width for p in pieces) + 2 * gap, sum(p.height + gap for p in pieces) + gap), 255)
    spans = []
    y = gap
    for crop, piece in zip(crops, pieces, strict=True):
        strip.paste(piece, (gap, y))
        spans.append((crop.key, y, y + piece.height))
        y += piece.height + gap
    found: dict[str, list[Word]] = {crop.key: [] for crop in crops}
    for word in ocr_words(strip, psm=6, whitelist=whitelist):
        for key, top, bottom in spans:
            if top - gap / 2 <= word.middle <= bottom + gap / 2:
                found[key].append(word)
                break
    return found
