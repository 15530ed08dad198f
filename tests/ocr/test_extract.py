"""Field extraction and confusable handling on text fixtures: no OCR, so these run in milliseconds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.ocr.confusables import (
    MBI_PATTERN,
    fold_confusables,
    repair_mbi,
    resolve_alnum_code,
    resolve_mbi,
    resolve_prefixed_id,
    to_digits,
)
from intake.ocr.extract import FieldReading, extract_fields, merge_readings
from intake.ocr.words import segments_from_words, words_from_text

LABEL_LEFT = """\
EXAMPLE HEALTH PLAN                          PPO
Member: JANE Q SAMPLE
Member ID: XKW123456789            RxBIN: 610279
Group No: 0012345                  RxPCN: 9999
Plan Type: HMO                     RxGRP: UHEALTH
PCP $25   Specialist $50   ER $250.00   Urgent Care $75
"""

LABEL_ABOVE = """\
Blue Cross Blue Shield of Texas

Subscriber Name
JOHN A EXAMPLE

Identification Number          Group Number          Plan
XQB 123456789                  A12345                EPO

RxBIN          RxPCN          RxGRP
004336         ADV            RX1234
"""

BACK = """\
Provider Services: 1-800-555-0111
Member Services: (877) 555-0142
Pharmacy Help Desk: 866.555.0199
Claims Payer ID: EX001
This card does not guarantee coverage.
"""

MEDICARE = """\
MEDICARE HEALTH INSURANCE

Name/Nombre
MARIA SAMPLE
Medicare Number
1EG4-TE5-MK73
"""


def _fields(text: str, side: str = "front") -> dict[str, str | None]:
    extraction = extract_fields(words_from_text(text), side=side)
    return {name: reading.value for name, reading in extraction.fields.items()}


def test_label_left_card():
    fields = _fields(LABEL_LEFT)
    assert fields["payer_name"] == "EXAMPLE HEALTH PLAN"
    assert fields["subscriber_name"] == "JANE Q SAMPLE"
    assert fields["member_id"] == "XKW123456789"
    assert fields["group_number"] == "0012345"
    assert fields["plan_type"] == "HMO"  # the labelled plan, not the badge in the header
    assert fields["rx_bin"] == "610279"
    assert fields["rx_pcn"] == "9999"
    assert fields["rx_group"] == "UHEALTH"


def test_copays_are_integer_cents():
    extraction = extract_fields(words_from_text(LABEL_LEFT))
    cents = {kind: amount for kind, (amount, _) in extraction.copays.items()}
    assert cents == {"pcp": 2500, "specialist": 5000, "er": 25000, "urgent_care": 7500}


def test_label_above_card_reads_values_under_their_labels():
    fields = _fields(LABEL_ABOVE)
    assert fields["payer_name"] == "BLUE CROSS BLUE SHIELD OF TEXAS"
    assert fields["subscriber_name"] == "JOHN A EXAMPLE"
    assert fields["member_id"] == "XQB123456789"  # the BCBS prefix printed apart is joined
    assert fields["group_number"] == "A12345"
    assert fields["plan_type"] == "EPO"
    assert fields["rx_bin"] == "004336"
    assert fields["rx_pcn"] == "ADV"
    assert fields["rx_group"] == "RX1234"


def test_back_side_phone_is_the_member_line_and_payer_id_is_not_a_member_id():
    fields = _fields(BACK, side="back")
    assert fields["phone"] == "8775550142"
    assert fields["payer_id"] == "EX001"
    assert "member_id" not in fields


def test_back_side_without_a_member_label_takes_the_first_unlabelled_phone():
    fields = _fields("Provider Services: 1-800-555-0111\nCall us: 1-888-555-0123\n", side="back")
    assert fields["phone"] == "8885550123"


def test_medicare_card_reads_the_mbi_without_dashes():
    fields = _fields(MEDICARE)
    assert fields["member_id"] == "1EG4TE5MK73"
    assert MBI_PATTERN.match(fields["member_id"])
    assert fields["subscriber_name"] == "MARIA SAMPLE"


def test_misread_labels_and_values_are_repaired():
    text = """\
MEMBER 1D: XKW12345678O
RX B1N: 61O279
GROUP: $603082
"""
    fields = _fields(text)
    assert fields["member_id"] == "XKW123456780"
    assert fields["rx_bin"] == "610279"
    assert fields["group_number"] == "S603082"


def test_a_value_glued_to_the_next_label_is_split():
    fields = _fields("SUBSCRIBER ID: NTR 027098263RXPCN WGBIG\n")
    assert fields["member_id"] == "NTR027098263"
    assert fields["rx_pcn"] == "WGBIG"


def test_rx_group_is_not_the_group_number():
    fields = _fields("RX GRP: RX6982\n")
    assert fields.get("group_number") is None
    assert fields["rx_group"] == "RX6982"


def test_rxbin_must_be_six_digits():
    assert "rx_bin" not in _fields("RxBIN: 61027\n")
    assert "rx_bin" not in _fields("RxBIN: 6102791\n")


def test_a_middle_initial_read_as_zero_is_still_a_name():
    assert _fields("Member Name: MICHAEL 0 SOLIS\n")["subscriber_name"] == "MICHAEL O SOLIS"


def test_label_without_value_reports_where_to_look_again():
    extraction = extract_fields(words_from_text("Member ID:\nGroup: 12345\n"))
    assert "member_id" not in extraction.fields
    assert extraction.missing_values["member_id"]


def test_rows_survive_a_slight_tilt():
    words = words_from_text("Member ID: XKW123456789")
    tilted = [replace(word, top=word.top + index * 6) for index, word in enumerate(words)]
    assert len(segments_from_words(tilted)) == 1


def test_confidence_comes_from_word_confidence_and_flags_doubtful_fields():
    sure = extract_fields(words_from_text("Member ID: XKW123456789\n", conf=96)).fields["member_id"]
    unsure = extract_fields(words_from_text("Member ID: XKW123456789\n", conf=55)).fields["member_id"]
    assert sure.confidence > 0.9 and not sure.needs_confirmation
    assert unsure.confidence < 0.6 and unsure.needs_confirmation


def test_two_reads_that_differ_only_in_confusables_need_confirmation():
    first = FieldReading(value="XOB100580561", confidence=0.9, valid=True, ocr_conf=90)
    second = FieldReading(value="X08100580561", confidence=0.85, valid=True, ocr_conf=85)
    merged = merge_readings(first, second)
    assert merged is not None
    assert merged.needs_confirmation
    assert merged.value == "XOB100580561"
    assert merged.alternatives == ("X08100580561",)


def test_two_reads_that_agree_raise_confidence():
    first = FieldReading(value="610279", confidence=0.85, valid=True, ocr_conf=85)
    merged = merge_readings(first, FieldReading(value="610279", confidence=0.8, valid=True, ocr_conf=80))
    assert merged is not None and merged.confidence == pytest.approx(0.95)


# --- confusables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "resolved"),
    [
        ("XOB1OO58O561", "XOB100580561"),  # letters in the digit tail are digits
        ("X0B100580561", "XOB100580561"),  # a zero inside the letter prefix is an O
        ("123456789", "123456789"),
        ("W12345678K", "W12345678K"),  # not letters-then-digits: kept as read
    ],
)
def test_member_id_shape_resolution(read, resolved):
    assert resolve_prefixed_id(read).value == resolved


def test_mbi_positions_decide_letters_and_digits():
    # At digit-or-letter positions S, L, O, I, B, Z can only be digits (the MBI has none of them).
    reading = resolve_mbi("1EG4-TES-MK73")
    assert reading is not None and reading.value == "1EG4TE5MK73" and not reading.ambiguous
    reading = resolve_mbi("1EO4TE5MK73")
    assert reading is not None and reading.value == "1E04TE5MK73"
    assert resolve_mbi("1EG4TE5MK7") is None
    repaired = repair_mbi("6FQO0-D68-EP90")  # one glyph read as two look-alikes
    assert repaired is not None and repaired.value == "6FQ0D68EP90" and repaired.ambiguous
    assert resolve_mbi("0EG4TE5MK73") is None  # an MBI never starts with 0


def test_short_codes():
    assert resolve_alnum_code("RX12S4").value == "RX1254"
    assert resolve_alnum_code("B1AXL").value == "BIAXL"
    assert resolve_alnum_code("9999").value == "9999"


def test_to_digits():
    assert to_digits("61O2I9") == "610219"
    assert to_digits("61X279") is None


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ", min_size=1, max_size=24))
def test_resolution_only_swaps_confusables(text):
    for reading in (resolve_prefixed_id(text), resolve_alnum_code(text)):
        assert fold_confusables(reading.value) == fold_confusables(text)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=24))
def test_fold_is_idempotent(text):
    assert fold_confusables(fold_confusables(text)) == fold_confusables(text)


def test_a_name_whose_label_was_not_read_is_still_found_but_flagged():
    text = """\
EXAMPLE HEALTH PLAN
JOHN X SOLIS
MEMBER ID: Q74669078
"""
    reading = extract_fields(words_from_text(text)).fields["subscriber_name"]
    assert reading.value == "JOHN X SOLIS"
    assert reading.needs_confirmation
