"""Card photo → clean page → Tesseract words: validation, card finding, preprocessing, OCR calls.

Nothing here logs or raises with image bytes or recognised text: both are PHI.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from intake.ocr.geometry import find_card, warp_card
from intake.ocr.words import Box, Word

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


# --- preprocessing ---------------------------------------------------------------------------------


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


def _clear_long_runs(ink: np.ndarray, min_length: int) -> None:
    """Clear vertical runs of ink at least `min_length` long, in place (rows: transpose first)."""
    padded = np.pad(ink, ((1, 1), (0, 0)))
    edges = np.diff(padded.astype(np.int8), axis=0)
    starts = np.argwhere(edges.T == 1)
    ends = np.argwhere(edges.T == -1)
    long = (ends[:, 1] - starts[:, 1]) >= min_length
    for (column, start), end in zip(starts[long], ends[long, 1], strict=True):
        ink[start:end, column] = False


def remove_rules(binary: np.ndarray, x_height: float) -> np.ndarray:
    """Erase printed lines (column rules, box outlines, band edges) that no letter is long enough to be.

    Tesseract reads a rule beside text as "|", "l" or "1", and a rule between two columns makes it
    merge them; letters are at most a cap height tall, and no word is an unbroken stroke.
    """
    ink = binary < 128
    _clear_long_runs(ink, max(12, int(x_height * 3)))
    transposed = np.ascontiguousarray(ink.T)
    _clear_long_runs(transposed, max(24, int(x_height * 8)))
    ink = transposed.T
    return np.where(ink, 0, 255).astype(np.uint8)


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
    binary = remove_rules(binary, x_height)
    gray_image, binary_image = gray, Image.fromarray(binary)
    if abs(angle) >= 0.25:
        gray_image = gray.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        binary_image = binary_image.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=255)
    # A white border helps Tesseract with text that runs to the edge of a tight crop.
    gray_image = ImageOps.expand(gray_image, border=12, fill=255)
    binary_image = ImageOps.expand(binary_image, border=12, fill=255)
    return Page(gray=gray_image, binary=binary_image, card_found=card_found, x_height=x_height)


# --- Tesseract -----------------------------------------------------------------------------------


def find_gutter(binary: np.ndarray, x_height: float) -> tuple[int, int] | None:
    """A blank vertical band splitting the card's body into two columns: (x, top row), or None.

    Tesseract's single-block mode reads a row straight across both columns, and the two columns'
    baselines rarely line up, which garbles both. The band must run from below the header to the
    bottom of the card, so a layout with a full-width line under its columns is left alone.
    """
    ink = binary < 128
    height, width = ink.shape
    body = ink[height // 4 :]
    empty = body.sum(axis=0) == 0
    padded = np.concatenate([[False], empty, [False]])
    edges = np.diff(padded.astype(np.int8))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    candidates = [
        (int(start), int(end))
        for start, end in zip(starts, ends, strict=True)
        if end - start >= 2 * x_height and 0.25 * width <= (start + end) // 2 <= 0.8 * width
    ]
    if not candidates:
        return None
    start, end = max(candidates, key=lambda run: run[1] - run[0])
    left_ink, right_ink = body[:, :start].sum(), body[:, end:].sum()
    if min(left_ink, right_ink) < 0.1 * (left_ink + right_ink):
        return None
    # The gutter starts under the last inked row that crosses it (the header).
    crossing = np.nonzero(ink[:, start:end].any(axis=1))[0]
    top = int(crossing.max()) + 1 if len(crossing) else 0
    # The top fifth stays whole: a payer's name may have a word gap right above the gutter.
    top = max(top, height // 5)
    if top > 0.6 * height:
        return None
    return (start + end) // 2, top


@dataclass(frozen=True)
class Piece:
    """Part of a page placed on the strip Tesseract reads: its page box and its row on the strip."""

    box: Box
    strip_top: int


def ocr_page(page: Page, *, psm: int = 6) -> list[Word]:
    """OCR a prepared page, reading two-column bodies one column at a time, in one Tesseract call."""
    binary = page.binary
    gutter = find_gutter(np.asarray(binary), page.x_height)
    if gutter is None:
        return ocr_words(binary, psm=psm)
    split, top = gutter
    width, height = binary.size
    boxes = [Box(0, top, split, height), Box(split, top, width, height)]
    if top > 0:
        boxes.insert(0, Box(0, 0, width, top))
    gap = max(20, int(page.x_height * 3))
    strip = Image.new("L", (width, sum(b.bottom - b.top + gap for b in boxes)), 255)
    pieces, y = [], 0
    for box in boxes:
        strip.paste(binary.crop((box.left, box.top, box.right, box.bottom)), (0, y))
        pieces.append(Piece(box, y))
        y += box.bottom - box.top + gap
    words = []
    for word in ocr_words(strip, psm=psm):
        piece = next((p for p in reversed(pieces) if word.middle >= p.strip_top), pieces[0])
        shift_x, shift_y = piece.box.left, piece.box.top - piece.strip_top
        words.append(replace(word, left=word.left + shift_x, top=word.top + shift_y))
    return words


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
