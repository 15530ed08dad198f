"""What staff see from a 271: copays, accumulators, auth, network, exclusions, other payers, dates."""

from __future__ import annotations

import datetime as dt

import pytest

from eligibility.x12 import parse_response
from eligibility.x12 import summary as s
from eligibility.x12.synthetic import Answer, Row, write_271
from tests.eligibility.conftest import SAMPLES, fixture_text, needs_shared
from tests.eligibility.fixture_files import JANE


@pytest.fixture
def ppo() -> s.EligibilityResponse:
    return parse_response(fixture_text("active-ppo.271"))


def test_copay_and_coinsurance_per_network(ppo: s.EligibilityResponse) -> None:
    assert s.copay(ppo, "98") == 2500
    assert s.copay(ppo, "98", in_network=False) == 6000
    assert s.coinsurance(ppo, "98") == 20.0
    # Urgent care has no rows of its own and the plan rows state no copay.
    assert s.copay(ppo, "UC") is None


def test_deductible_and_out_of_pocket_totals_and_remaining(ppo: s.EligibilityResponse) -> None:
    assert s.deductible(ppo) == s.Accumulator(total=250000, remaining=175000)
    assert s.deductible(ppo, in_network=False) == s.Accumulator(total=500000, remaining=None)
    assert s.out_of_pocket(ppo) == s.Accumulator(total=600000, remaining=420050)
    # Office visits fall back to the plan-level (30) deductible.
    assert s.deductible(ppo, "98").total == 250000


def test_non_covered_services_and_plan_dates(ppo: s.EligibilityResponse) -> None:
    assert s.non_covered_service_types(ppo) == ["33"]
    assert s.service_not_covered(ppo, "33")
    assert not s.service_not_covered(ppo, "98")
    assert s.plan_date_status(ppo, dt.date(2026, 1, 15)) == "within"
    assert s.plan_date_status(ppo, dt.date(2024, 12, 31)) == "not_started"


def test_ended_plan_is_seen_against_the_date_of_service() -> None:
    ended = parse_response(fixture_text("inactive-ended.271"))
    assert s.coverage_status(ended) == "inactive"
    assert s.plan_date_status(ended, dt.date(2026, 1, 15)) == "ended"
    assert s.plan_date_status(ended, dt.date(2025, 6, 1)) == "within"


def test_auth_required_is_per_service_type() -> None:
    answer = parse_response(fixture_text("auth-required.271"))
    assert s.auth_required(answer, "MH") is True
    assert s.auth_required(answer, "98") is False
    assert s.auth_required(answer, "UC") is None


def test_network_status_follows_eb12() -> None:
    answer = parse_response(
        write_271(
            Answer(
                JANE,
                rows=(
                    Row("1", ("30",), "IND", "EP"),
                    Row("B", ("98",), "IND", period="27", amount="40", in_network="N"),
                    Row("B", ("UC",), "IND", period="27", amount="50", in_network="Y"),
                ),
            )
        )
    )
    assert s.network_status(answer, "98") == "out_of_network"
    assert s.network_status(answer, "UC") == "in_network"
    assert s.network_status(answer, "30") == "unknown"


def test_status_prefers_the_row_for_the_service_asked_about() -> None:
    answer = parse_response(write_271(Answer(JANE, rows=(Row("1", ("30",), "IND"), Row("6", ("MH",), "IND")))))
    assert s.coverage_status(answer) == "active"
    assert s.coverage_status(answer, "MH") == "inactive"
    assert s.coverage_status(answer, "98") == "active"
    assert (
        parse_response(write_271(Answer(JANE, rows=(Row("1", ("30",)), Row("6", ("MH",))))), service_type="MH").status
        == "inactive"
    )


def test_other_payer_pcp_and_referral_plan() -> None:
    assert s.other_payer_present(parse_response(fixture_text("cob-other-payer.271")))
    hmo = parse_response(fixture_text("hmo-pcp-dependent.271"))
    assert s.pcp_on_file(hmo) and s.needs_referral(hmo)
    ppo = parse_response(fixture_text("active-ppo.271"))
    assert not s.other_payer_present(ppo) and not s.pcp_on_file(ppo) and not s.needs_referral(ppo)


def test_exhausted_visit_limit() -> None:
    answer = parse_response(
        write_271(
            Answer(
                JANE,
                rows=(Row("1", ("30",)), Row("F", ("AD",), period="29", quantity_qualifier="VS", quantity="0")),
            )
        )
    )
    assert s.visits_exhausted(answer, "AD")
    assert not s.visits_exhausted(answer, "98")


def test_carve_out_is_not_reported_as_not_covered() -> None:
    answer = parse_response(write_271(Answer(JANE, rows=(Row("1", ("30",)), Row("U", ("MH",))))))
    assert not s.service_not_covered(answer, "MH")


@needs_shared
def test_public_sample_copays_by_network() -> None:
    answer = parse_response((SAMPLES / "subscriber-health-benefit-check.271").read_text())
    assert s.copay(answer, "98") == 1000
    assert s.copay(answer, "98", in_network=False) == 3000
    assert s.pcp_on_file(answer)
