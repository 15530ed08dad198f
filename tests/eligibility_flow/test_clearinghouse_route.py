"""Eligibility through the sandbox clearinghouse: our 270 out, its 271 / 999 / TA1 back, retries, every call audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from eligibility.models import EligibilityCheck
from hub.models import AuditEvent, FieldState, PatientInsurance
from notify.models import OutboundMessage
from sync.models import WriteIntent
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import (
    card_insurance,
    check_now,
    new_patient,
    payer_member,
    run_checks,
)

pytestmark = pytest.mark.django_db
State = EligibilityCheck.State
Result = EligibilityCheck.Result


def exchanges(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.control("GET", "../_clearinghouse/exchanges")["exchanges"]


def clearinghouse_audit_rows() -> int:
    return AuditEvent.objects.filter(system=AuditEvent.System.CLEARINGHOUSE).count()


def test_an_active_member_is_verified_with_the_plan_staff_need(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200300", patient)
    insurance = card_insurance(patient, "EXH100200300")
    check = check_now(insurance)
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE)
    assert check.summary["copay_cents"] and check.summary["copay_cents"] % 100 == 0
    assert check.summary["auth_required"] is not True
    insurance.refresh_from_db()
    assert insurance.eligibility_status == PatientInsurance.EligibilityStatus.ACTIVE
    assert insurance.eligibility_checked_at is not None
    assert insurance.eligibility_message.startswith("Coverage is active")
    # One 270 went out, and the audit trail has exactly one clearinghouse row per call the sandbox logged.
    assert len(exchanges(elig)) == 1
    assert clearinghouse_audit_rows() == len(elig.requests(system="clearinghouse", method="POST")) == 1
    row = AuditEvent.objects.get(system=AuditEvent.System.CLEARINGHOUSE)
    assert (row.object_id, row.patient_ref, row.route) == (str(check.pk), str(patient.pk), "/270")
    assert "EXH100200300" not in str(row.detail) + row.outcome_detail


def test_inactive_coverage_is_reported_and_the_patient_is_asked_to_look(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200301", patient, eligibility="inactive")
    insurance = card_insurance(patient, "EXH100200301")
    check = check_now(insurance)
    assert (check.state, check.result) == (State.DONE, Result.INACTIVE)
    insurance.refresh_from_db()
    assert insurance.eligibility_status == PatientInsurance.EligibilityStatus.INACTIVE
    text = OutboundMessage.objects.get(patient=patient)
    assert text.kind == "needs_attention" and text.reference == f"eligibility:{insurance.pk}:inactive"
    # Nothing unverified is written to athena.
    assert not WriteIntent.objects.filter(patient=patient).exists()


def test_aaa72_is_retried_with_the_confusable_reading_and_the_payers_id_becomes_verified(
    elig: Sandbox, boston: Any
) -> None:
    patient = new_patient(boston)
    # The card says EXH900100200; OCR read an O for the second 0.
    payer_member(elig, "EXH900100200", patient, misread="72")
    insurance = card_insurance(patient, "EXH9O0100200")
    check = check_now(insurance)
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE)
    attempts = list(check.attempt_rows.all())
    assert [a.rejections[0]["code"] if a.rejections else "" for a in attempts] == ["72", ""]
    assert [a.member_id for a in attempts] == ["EXH9O0100200", "EXH900100200"]
    assert [a.decision for a in attempts] == ["retry_with_member_id", "done"]
    assert len(exchanges(elig)) == 2 == clearinghouse_audit_rows()
    insurance.refresh_from_db()
    assert insurance.member_id == "EXH900100200"
    state = FieldState.objects.get(patient=patient, field=f"insurance.{insurance.pk}.member_id")
    assert state.source == "eligibility"
    assert "corrected reading" in check.message


def test_aaa75_with_no_reading_found_is_a_rejection_after_every_variant(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    insurance = card_insurance(patient, "EXH9O0I00200")
    check = check_now(insurance)
    assert (check.state, check.result) == (State.DONE, Result.REJECTED)
    assert [r["code"] for r in check.rejections] == ["75"]
    assert check.attempts == 3  # the id as read, then two confusable readings
    assert len({a.member_id for a in check.attempt_rows.all()}) == 3
    assert "Subscriber not found (AAA 75)" in check.message
    insurance.refresh_from_db()
    assert insurance.eligibility_status == PatientInsurance.EligibilityStatus.REJECTED
    assert insurance.member_id == "EXH9O0I00200"  # nothing verified, nothing changed


def test_coordination_of_benefits_is_flagged(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200302", patient, eligibility="cob")
    check = check_now(card_insurance(patient, "EXH100200302"))
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE)
    assert check.summary["other_payer"] is True


def test_authorization_required_is_flagged(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200303", patient, eligibility="auth_required")
    check = check_now(card_insurance(patient, "EXH100200303"))
    assert check.result == Result.ACTIVE and check.summary["auth_required"] is True
    assert any("AUTHORIZATION" in message for message in check.summary["messages"])


def test_a_999_refusal_fails_the_check_without_a_resend(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200304", patient, eligibility="reject999")
    insurance = card_insurance(patient, "EXH100200304")
    check = check_now(insurance)
    assert (check.state, check.result) == (State.FAILED, Result.ERROR)
    assert check.attempt_rows.get().response_type == "999"
    assert "(999)" in check.message
    assert len(exchanges(elig)) == 1
    insurance.refresh_from_db()
    assert insurance.eligibility_status == PatientInsurance.EligibilityStatus.ERROR


def test_a_ta1_refusal_of_the_envelope_fails_the_check(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200305", patient, eligibility="rejectTA1")
    check = check_now(card_insurance(patient, "EXH100200305"))
    assert (check.state, check.result) == (State.FAILED, Result.ERROR)
    assert check.attempt_rows.get().response_type == "TA1"
    assert check.rejections[0]["code"] == "006"


def test_aaa42_waits_with_backoff_and_asks_again(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200306", patient, unavailable_times=2)
    check = check_now(card_insurance(patient, "EXH100200306"))
    assert check.state == State.WAITING and check.result == Result.NONE
    first_wait = check.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=30) < first_wait <= dt.timedelta(seconds=61)
    assert run_checks() == 0  # not due yet: nothing is sent early
    run_checks(now=check.next_attempt_at + dt.timedelta(seconds=1))
    check.refresh_from_db()
    assert check.state == State.WAITING
    assert check.next_attempt_at - timezone.now() > first_wait  # the wait doubles
    run_checks(now=check.next_attempt_at + dt.timedelta(seconds=1))
    check.refresh_from_db()
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE)
    assert [a.rejections[0]["code"] if a.rejections else "" for a in check.attempt_rows.all()] == ["42", "42", ""]
    assert clearinghouse_audit_rows() == len(elig.requests(system="clearinghouse", method="POST")) == 3


def test_a_check_missing_details_is_not_sent_and_says_what_is_missing(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    insurance = card_insurance(patient, "EXH100200307", payer_id="", athena_insurance_package_id="")
    check = check_now(insurance)
    assert check.state == State.INCOMPLETE
    assert check.missing_fields == ["Payer ID"]
    assert "Payer ID" in check.message
    assert exchanges(elig) == []


def test_an_unreachable_clearinghouse_is_retried_then_reported(elig: Sandbox, boston: Any, settings: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH100200308", patient)
    elig.configure(faults={"rules": [{"route": "/_clearinghouse/270", "kind": "error_before", "count": 1}]})
    check = check_now(card_insurance(patient, "EXH100200308"))
    assert check.state == State.WAITING and check.transport_failures == 1
    run_checks(now=check.next_attempt_at + dt.timedelta(seconds=1))
    check.refresh_from_db()
    assert (check.state, check.result) == (State.DONE, Result.ACTIVE)
    outcomes = [row.outcome for row in AuditEvent.objects.filter(system="clearinghouse").order_by("sequence")]
    assert outcomes == [AuditEvent.Outcome.SERIOUS_FAILURE, AuditEvent.Outcome.SUCCESS]
