"""Finding the card in a photo and preparing the page, checked against the generator's geometry (no OCR)."""

from __future__ import annotations

import numpy as np
import pytest

from intake.ocr.cards import generate_card
from intake.ocr.geometry import find_card
from intake.ocr.pipeline import TARGET_X_HEIGHT, find_gutter, load_image, prepare_page


@pytest.mark.parametrize("seed", [10, 11, 12, 13, 14, 15])
def test_card_corners_are_found_in_a_photo(seed):
    card = generate_card(seed, 2)
    image = load_image(card.front)
    corners = find_card(image)
    assert corners is not None
    truth = card.corners["front"]
    assert truth is not None
    worst = max(np.hypot(x - tx, y - ty) for (x, y), (tx, ty) in zip(corners, truth, strict=True))
    assert worst < 0.02 * image.width


def test_a_scan_that_is_all_card_is_left_as_it_is():
    assert find_card(load_image(generate_card(3, 0).front)) is None


def test_page_is_scaled_so_text_reaches_the_target_x_height():
    # A small, heavily degraded photo is upscaled; a clean 300 dpi scan barely changes.
    for level in (0, 3):
        page = prepare_page(load_image(generate_card(8, level).front))
        assert TARGET_X_HEIGHT * 0.8 <= page.x_height <= TARGET_X_HEIGHT * 1.25
        assert set(np.unique(np.asarray(page.binary))) <= {0, 255}


def test_two_column_bodies_are_split_and_single_column_ones_are_not():
    two_column = prepare_page(load_image(generate_card(3, 0, layout="two-column").front))
    gutter = find_gutter(np.asarray(two_column.binary), two_column.x_height)
    assert gutter is not None
    split, top = gutter
    assert 0.3 * two_column.binary.width < split < 0.75 * two_column.binary.width
    assert top >= two_column.binary.height // 5  # the payer's name above stays whole

    back = prepare_page(load_image(generate_card(3, 0).back))
    assert find_gutter(np.asarray(back.binary), back.x_height) is None
