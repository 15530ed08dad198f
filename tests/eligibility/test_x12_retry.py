"""Retry policy: back off on AAA 42, try a confusable member id on 72/75, stop otherwise."""

from __future__ import annotations

from eligibility.x12 import member_id_variants, next_step, parse_response
from eligibility.x12.retry import FINAL, RETRY_LATER, RETRY_WITH_MEMBER_ID, WAIT_FOR_ANSWER
from tests.eligibility.conftest import fixture_text


def test_variants_fix_the_likely_ocr_misread_first() -> None:
    assert member_id_variants("ZZX12345678O") == ["ZZX123456780", "ZZXI2345678O"]
    assert member_id_variants("W1234S678")[0] == "W12345678"
    assert member_id_variants("0AB123456")[0] == "OAB123456"


def test_variants_are_deterministic_bounded_and_exclude_the_original() -> None:
    first = member_id_variants("XOB12I45Z", limit=10)
    assert first == member_id_variants("XOB12I45Z", limit=10)
    assert "XOB12I45Z" not in first
    assert len(set(first)) == len(first)
    assert len(member_id_variants("XOB12I45Z")) == 2
    assert member_id_variants("XYW347") == []  # nothing confusable


def test_aaa_42_is_retried_later_with_growing_delay_then_given_up() -> None:
    busy = parse_response(fixture_text("rejected-42.271"))
    delays = []
    for attempt in (1, 2, 3):
        decision = next_step(busy, attempt=attempt, member_id="ZZX123456789")
        assert decision.action == RETRY_LATER
        delays.append(decision.delay_seconds)
    assert delays == sorted(delays) and delays[0] > 0
    assert next_step(busy, attempt=4, member_id="ZZX123456789").action == FINAL


def test_aaa_72_tries_up_to_two_variants_then_stops() -> None:
    not_found = parse_response(fixture_text("rejected-72.271"))
    original = "ZZX12345678O"
    first = next_step(not_found, attempt=1, member_id=original)
    assert (first.action, first.member_id, first.reason_code) == (RETRY_WITH_MEMBER_ID, "ZZX123456780", "72")
    second = next_step(not_found, attempt=2, member_id=original, tried_member_ids=[original, first.member_id])
    assert (second.action, second.member_id) == (RETRY_WITH_MEMBER_ID, "ZZXI2345678O")
    third = next_step(
        not_found, attempt=3, member_id=original, tried_member_ids=[original, first.member_id, second.member_id]
    )
    assert third.action == FINAL


def test_aaa_75_without_confusable_characters_is_final() -> None:
    decision = next_step(parse_response(fixture_text("rejected-75.271")), attempt=1, member_id="XYW347")
    assert decision.action == FINAL


def test_answers_and_acknowledgment_rejections_are_not_retried() -> None:
    assert next_step(parse_response(fixture_text("active-ppo.271")), attempt=1, member_id="X").action == "done"
    assert next_step(parse_response(fixture_text("rejected-eq.999")), attempt=1, member_id="X").action == FINAL
    assert next_step(parse_response(fixture_text("rejected-envelope.ta1")), attempt=1, member_id="X").action == FINAL


def test_an_accepted_999_means_wait_for_the_271() -> None:
    decision = next_step(parse_response(fixture_text("accepted.999")), attempt=1, member_id="X")
    assert decision.action == WAIT_FOR_ANSWER


def test_a_271_without_a_coverage_answer_is_final() -> None:
    text = fixture_text("active-ppo.271").replace("EB*1*IND*30*PR*SILVER PPO 2500~", "EB*V~")
    answer = parse_response(text)
    assert answer.status == "unknown"
    assert next_step(answer, attempt=1, member_id="X").action == FINAL
