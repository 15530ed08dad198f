"""The synthetic card generator: deterministic, and its ground truth is well formed."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from PIL import Image

from intake.ocr.cards import CARD_HEIGHT, CARD_WIDTH, CASES, FRONT_LAYOUTS, generate_card
from intake.ocr.confusables import MBI_PATTERN
from intake.ocr.extract import FIELD_NAMES
from intake.ocr.payers import default_payers


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("level", [0, 2, 3])
def test_same_seed_same_card(level):
    first, second = generate_card(42, level), generate_card(42, level)
    assert _digest(first.front) == _digest(second.front)
    assert _digest(first.back) == _digest(second.back)
    assert first.truth == second.truth


def test_different_seeds_differ():
    assert _digest(generate_card(1, 1).front) != _digest(generate_card(2, 1).front)


def test_clean_cards_are_cr80_at_300_dpi():
    card = generate_card(5, 0)
    for data in card.sides():
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG"
        assert image.size == (CARD_WIDTH, CARD_HEIGHT)
    assert card.corners == {"front": None, "back": None}


def test_degraded_cards_are_photos_of_the_card():
    card = generate_card(5, 2)
    image = Image.open(io.BytesIO(card.front))
    assert image.format == "JPEG"
    assert card.corners["front"] is not None and len(card.corners["front"]) == 4


def test_every_layout_and_case_can_be_asked_for():
    for layout in FRONT_LAYOUTS:
        assert generate_card(9, 0, layout=layout, case="plain").layout == layout
    for case in CASES:
        assert generate_card(9, 0, case=case).case == case
    with pytest.raises(ValueError, match="level"):
        generate_card(1, 7)


def test_truth_is_well_formed_across_many_seeds():
    payer_names = {payer.name for payer in default_payers().payers}
    for seed in range(80):
        card = generate_card(seed, 0)
        truth = card.truth
        assert set(FIELD_NAMES) <= set(truth)
        assert truth["payer_canonical"] in payer_names
        assert re.fullmatch(r"[A-Z0-9]{6,20}", truth["member_id"])
        if truth["rx_bin"] is not None:
            assert len(truth["rx_bin"]) == 6 and truth["rx_bin"].isdigit()
        assert len(truth["phone"]) == 10 and truth["phone"].isdigit()
        assert all(isinstance(cents, int) and cents % 100 == 0 for cents in truth["copays"].values())
        if card.case == "mbi":
            assert MBI_PATTERN.match(truth["member_id"])
            assert truth["payer_canonical"] == "Medicare"
        if card.case == "no_group":
            assert truth["group_number"] is None
        if card.case == "bcbs_prefix":
            assert truth["member_id"][:3].isalpha()


def test_the_adversarial_cases_are_adversarial():
    card = generate_card(11, 0, case="confusable")
    member_id = card.truth["member_id"]
    assert set(member_id[:1]) <= set("OISB")
    assert sum(char in "0158" for char in member_id) >= 3
