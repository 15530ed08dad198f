"""Checks of an uploaded card photo before anything is stored: size, type, pixels, a complete decode.

Every refusal is a problem+json with a stable code; the message names the problem, never the
content. HEIC (iPhone) photos are refused with a clear 415: the hub's image library cannot decode
them without an extra codec, so the portal converts them to JPEG first.
"""

from __future__ import annotations

import io
import warnings

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from intake.api.problems import Problem
from intake.cards import ValidImage

ACCEPTED = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif")
MIN_SIDE = 120


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def card_image_validate(upload: UploadedFile, *, side: str) -> ValidImage:
    """The upload's bytes when they are a complete JPEG or PNG of sane size; else a 4xx Problem."""
    limit = int(settings.HUB_CARD_MAX_BYTES)
    if upload.size is not None and upload.size > limit:
        raise Problem(413, "card-image-too-large", f"The {side} image is larger than {limit // (1024 * 1024)} MB.")
    data = upload.read(limit + 1)
    if not data:
        raise Problem(422, "card-image-empty", f"The {side} image is empty.", errors={side: ["The file is empty."]})
    if len(data) > limit:
        raise Problem(413, "card-image-too-large", f"The {side} image is larger than {limit // (1024 * 1024)} MB.")
    if _is_heif(data[:16]):
        raise Problem(415, "card-image-unsupported", f"The {side} image is HEIC; send the card as a JPEG or PNG photo.")
    try:
        with warnings.catch_warnings():
            # A decompression bomb is refused before its pixels are decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED:
                raise Problem(
                    415, "card-image-unsupported", f"The {side} image must be a JPEG or PNG photo of the card."
                )
            width, height = image.size
            if width * height > int(settings.HUB_CARD_MAX_PIXELS):
                raise Problem(422, "card-image-too-many-pixels", f"The {side} image has too many pixels.")
            if min(width, height) < MIN_SIDE:
                raise Problem(422, "card-image-too-small", f"The {side} image is too small to read.")
            image.load()
    except Problem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Problem(422, "card-image-too-many-pixels", f"The {side} image has too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise Problem(
            415, "card-image-unsupported", f"The {side} file is not an image; send a JPEG or PNG photo."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Problem(422, "card-image-corrupt", f"The {side} image is truncated or corrupt.") from exc
    return ValidImage(data=data, content_type=ACCEPTED[str(image.format)], width=width, height=height)
