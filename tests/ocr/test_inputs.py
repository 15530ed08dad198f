"""Uploads that are not card photos fail with CardImageError and a message that carries no content."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from intake.ocr import CardImageError, read_card
from intake.ocr.cards import generate_card
from intake.ocr.pipeline import load_image

SECRET = b"MEMBER ID XKW123456789 JANE SAMPLE"


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions: a decompression bomb's calling card."""
    real = _png(8, 8, "L")
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + ihdr + real[8 + 25 :]


def _assert_refused(data: bytes) -> CardImageError:
    with pytest.raises(CardImageError) as caught:
        load_image(data)
    message = str(caught.value)
    assert message
    assert "XKW" not in message and "SAMPLE" not in message
    assert len(message) < 120
    return caught.value


def test_empty_upload():
    assert "empty" in str(_assert_refused(b""))


def test_text_file():
    assert "not a readable image" in str(_assert_refused(SECRET))


def test_truncated_jpeg():
    card = generate_card(3, 1)
    _assert_refused(card.front[: len(card.front) // 2])


def test_truncated_png():
    card = generate_card(3, 0)
    _assert_refused(card.front[: len(card.front) // 3])


def test_png_with_only_a_header():
    _assert_refused(_png(400, 300)[:40])


def test_huge_dimensions_are_refused_before_decoding():
    assert "too many pixels" in str(_assert_refused(_png_claiming(60_000, 60_000)))
    assert "too many pixels" in str(_assert_refused(_png_claiming(9_000, 9_000)))


def test_a_real_compressed_bomb_is_refused():
    buffer = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(buffer, format="PNG")  # 60 MP of zeros in a few kB
    assert len(buffer.getvalue()) < 200_000
    _assert_refused(buffer.getvalue())


def test_unsupported_image_type():
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300)).save(buffer, format="GIF")
    assert "supported" in str(_assert_refused(buffer.getvalue()))


def test_tiny_image():
    assert "too small" in str(_assert_refused(_png(40, 30)))


def test_read_card_refuses_a_bad_back_side_too():
    with pytest.raises(CardImageError):
        read_card(generate_card(1, 0).front[:10], None)


def test_exif_orientation_is_applied():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise: the stored pixels are portrait
    Image.new("RGB", (300, 500), "white").save(buffer, format="JPEG", exif=exif)
    assert load_image(buffer.getvalue()).size == (500, 300)


def test_command_exit_codes_for_bad_files(tmp_path):
    text_file = tmp_path / "card.jpg"
    text_file.write_bytes(SECRET)
    with pytest.raises(CommandError) as caught:
        call_command("ocr_card", str(text_file), "--json")
    assert caught.value.returncode == 2
    assert "XKW" not in str(caught.value)

    with pytest.raises(CommandError) as caught:
        call_command("ocr_card", str(tmp_path / "missing.jpg"))
    assert caught.value.returncode == 2

    with pytest.raises(CommandError) as caught:
        call_command("ocr_card", str(tmp_path))
    assert caught.value.returncode == 2
