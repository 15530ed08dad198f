"""Eligibility through athena's benefitdetails: athena runs the 270, the hub reads its 271 back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from eligibility.inquiry import payer_id_for
from eligibility.models import EligibilityCheck
from eligibility.x12.retry import member_id_variants
from hub.models import AuditEvent, FieldState, PatientInsurance
from sync.models import WriteIntent
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import athena_member, check_now, drain_intents, payer_member, run_checks

pytestmark = pytest.mark.django_db
State = EligibilityCheck.State
Result = EligibilityCheck.Result
BENEFITS = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/benefitdetails"


@pytest.fixture
def athena_route(elig: Sandbox, settings: Any) -> Sandbox:
    settings.ELIGIBILITY_ROUTE = "athena"
    settings.ELIGIBILITY_ATHENA_POLL_SECONDS = 20
    return elig


@pytest.mark.parametrize(
    ("case", "result", "auth", "other_payer"),
    [
        ("active", Result.ACTIVE, False, False),
        ("inactive", Result.INACTIVE, None, False),
        ("auth_required", Result.ACTIVE, True, False),
        ("cob", Result.ACTIVE, False, True),
    ],
)
def test_athena_runs_the_check_and_the_hub_reads_its_271(
    athena_route: Sandbox, case: str, result: str, auth: bool | None, other_payer: bool
) -> None:
    _patient, insurance = athena_member(athena_route, case)
    check = check_now(insurance)
    assert (check.route, check.state, check.result) == ("athena", State.DONE, result)
    if result == Result.ACTIVE:
        assert bool(check.summary["auth_required"]) is bool(auth)
        assert check.summary["other_payer"] is other_payer
    calls = athena_route.requests(route=BENEFITS)
    assert [c["method"] for c in calls] == ["POST", "GET"]
    assert AuditEvent.objects.filter(system="athena", route=BENEFITS).count() == 2
    assert athena_route.requests(system="clearinghouse") == []  # athena ran the 270, not us
    insurance.refresh_from_db()
    assert insurance.eligibility_status == result


def test_the_hub_waits_for_athenas_answer_instead_of_reading_an_old_one(athena_route: Sandbox) -> None:
    _patient, insurance = athena_member(athena_route, "active")
    athena_route.configure(benefits={"check_delay_seconds": 30})
    check = check_now(insurance)
    assert check.state == State.WAITING and check.attempts == 1
    athena_route.configure(clock_offset_seconds=31)  # athena finished meanwhile
    run_checks(now=check.next_attempt_at + dt.timedelta(seconds=1))
    check.refresh_from_db()
    assert (check.state, check.result, check.attempts) == (State.DONE, Result.ACTIVE, 1)
    assert [c["method"] for c in athena_route.requests(route=BENEFITS)] == ["POST", "GET", "GET"]


def test_a_payer_unable_to_answer_is_asked_again_later(athena_route: Sandbox) -> None:
    _patient, insurance = athena_member(athena_route, "active")
    athena_route.edit(
        {"type": "insurance.eligibility", "insuranceid": insurance.athena_insurance_id, "eligibility": "unavailable"}
    )
    check = check_now(insurance)
    assert check.state == State.WAITING and [r["code"] for r in check.rejections] == ["42"]
    athena_route.edit(
        {"type": "insurance.eligibility", "insuranceid": insurance.athena_insurance_id, "eligibility": "active"}
    )
    run_checks(now=check.next_attempt_at + dt.timedelta(seconds=1))
    check.refresh_from_db()
    assert (check.state, check.result, check.attempts) == (State.DONE, Result.ACTIVE, 2)
    assert [c["method"] for c in athena_route.requests(route=BENEFITS)] == ["POST", "GET", "POST", "GET"]


def test_aaa72_from_athena_is_retried_through_the_clearinghouse_and_the_verified_id_reaches_athena(
    athena_route: Sandbox,
) -> None:
    patient, insurance = athena_member(athena_route, "reject72")
    typed_in_athena = insurance.member_id
    right = member_id_variants(typed_in_athena)[0]
    payer_id = payer_id_for(insurance)
    payer_member(athena_route, right, patient, payer_id=payer_id, group_number=insurance.group_number)
    check = check_now(insurance)
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE), check.message
    assert [(a.route, a.status) for a in check.attempt_rows.all()] == [
        ("athena", "rejected"),
        ("clearinghouse", "active"),
    ]
    insurance.refresh_from_db()
    assert insurance.member_id == right
    state = FieldState.objects.get(patient=patient, field=f"insurance.{insurance.pk}.member_id")
    assert state.source == "eligibility"
    # The payer's id goes back to athena through the ledger, once.
    update = WriteIntent.objects.get(operation=WriteIntent.Operation.UPDATE_INSURANCE)
    assert update.target == {"insurance_id": insurance.pk, "fields": ["member_id"]}
    drain_intents()
    update.refresh_from_db()
    assert update.state == WriteIntent.State.SUCCEEDED
    in_athena = athena_route.records("insurances", patientid=patient.athena_patient_id)["insurances"]
    assert [row["insuranceidnumber"] for row in in_athena if row["insuranceid"] == insurance.athena_insurance_id] == [
        right
    ]
    state.refresh_from_db()
    assert json_value(state.last_ehr) == right  # athena holds it now: nothing more to write
    assert PatientInsurance.objects.get(pk=insurance.pk).eligibility_status == "active"


def json_value(text: str) -> Any:
    import json

    return json.loads(text) if text else None
