"""Verified coverage reaches athena through the ledger; the golden record decides between card and EHR."""

from __future__ import annotations

from typing import Any

import pytest

from eligibility.coverage import coverage_observe
from eligibility.inquiry import payer_id_for
from eligibility.models import EligibilityCheck
from hub.models import FieldState
from sync.models import Conflict, WriteIntent
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import (
    athena_member,
    card_insurance,
    check_now,
    drain_intents,
    payer_member,
)

pytestmark = pytest.mark.django_db
Operation = WriteIntent.Operation


def athena_insurances(sandbox: Sandbox, patient: Any) -> list[dict[str, Any]]:
    return sandbox.records("insurances", patientid=patient.athena_patient_id, cancelled="false")["insurances"]


def test_a_verified_card_becomes_an_athena_insurance_exactly_once(elig: Sandbox) -> None:
    patient, _primary = athena_member(elig, "active")
    payer_member(elig, "EXH555000111", patient)
    card = card_insurance(patient, "EXH555000111", sequence_number=2)
    check = check_now(card)
    assert check.result == EligibilityCheck.Result.ACTIVE
    create = WriteIntent.objects.get(operation=Operation.CREATE_INSURANCE)
    assert create.target == {"insurance_id": card.pk}
    drain_intents()
    create.refresh_from_db()
    card.refresh_from_db()
    assert create.state == WriteIntent.State.SUCCEEDED and card.athena_insurance_id
    rows = [row for row in athena_insurances(elig, patient) if row["insuranceidnumber"] == "EXH555000111"]
    assert [(row["insuranceid"], row["sequencenumber"]) for row in rows] == [(card.athena_insurance_id, 2)]
    # athena now holds the verified values: checking again writes nothing more.
    check_now(card, date_of_service=check.date_of_service.replace(day=1))
    assert WriteIntent.objects.filter(patient=patient).count() == 1


def test_unverified_card_values_are_not_written(elig: Sandbox) -> None:
    patient, _primary = athena_member(elig, "active")
    card = card_insurance(patient, "EXH555000112", sequence_number=2)  # the payer does not know it
    check_now(card)
    assert not WriteIntent.objects.filter(patient=patient).exists()


def test_an_incomplete_insurance_is_not_written_even_when_verified(elig: Sandbox) -> None:
    patient, _primary = athena_member(elig, "active")
    payer_member(elig, "EXH555000113", patient)
    card = card_insurance(patient, "EXH555000113", sequence_number=2, athena_insurance_package_id="")
    card.payer_id = "EX001"
    card.save()
    assert check_now(card).result == EligibilityCheck.Result.ACTIVE
    assert not WriteIntent.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("payer_knows", ["card", "ehr"])
def test_card_and_ehr_disagreeing_is_a_conflict_until_the_payer_verifies_one_side(
    elig: Sandbox, payer_knows: str
) -> None:
    patient, insurance = athena_member(elig, "active")
    field = f"insurance.{insurance.pk}.member_id"
    coverage_observe(insurance=insurance, values={"member_id": "EXH222333444"}, source="ehr", event_id="desk-edit")
    coverage_observe(insurance=insurance, values={"member_id": "EXH777888999"}, source="ocr", event_id="card-1")
    conflict = Conflict.objects.get(patient=patient, field=field, status=Conflict.Status.OPEN)
    insurance.refresh_from_db()
    assert insurance.member_id == "EXH222333444"  # the EHR stands while staff decide
    verified = "EXH777888999" if payer_knows == "card" else "EXH222333444"
    payer_member(elig, verified, patient, group_number=insurance.group_number, payer_id=payer_id_for(insurance))
    check = check_now(insurance, member_id=verified)
    assert check.result == EligibilityCheck.Result.ACTIVE, check.message
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.CONVERGED
    insurance.refresh_from_db()
    assert insurance.member_id == verified
    assert FieldState.objects.get(patient=patient, field=field).source == "eligibility"
    updates = WriteIntent.objects.filter(operation=Operation.UPDATE_INSURANCE)
    if payer_knows == "card":
        assert [u.target["fields"] for u in updates] == [["member_id"]]
    else:
        assert not updates.exists()  # athena already holds the verified value


def test_staff_settle_a_card_against_athena_conflict_and_athena_gets_their_choice(elig: Sandbox) -> None:
    from django.contrib.auth import get_user_model

    from sync.conflicts import conflict_resolve
    from sync.staff_services import conflict_value_clean

    patient, insurance = athena_member(elig, "active")
    field = f"insurance.{insurance.pk}.member_id"
    coverage_observe(insurance=insurance, values={"member_id": "EXH222333445"}, source="ehr", event_id="desk-edit")
    coverage_observe(insurance=insurance, values={"member_id": "EXH777888990"}, source="ocr", event_id="card-2")
    conflict = Conflict.objects.get(patient=patient, field=field, status=Conflict.Status.OPEN)
    assert (conflict.portal_value, conflict.ehr_value) == ("EXH777888990", "EXH222333445")
    typed = conflict_value_clean(field_name=field, raw="exh 777-888 990")
    staff = get_user_model().objects.create_user("desk-conflicts")
    conflict_resolve(conflict=conflict, choice=Conflict.Choice.EDITED, value=typed, reason="read the card", actor=staff)
    insurance.refresh_from_db()
    assert insurance.member_id == "EXH777888990"
    assert FieldState.objects.get(patient=patient, field=field).source == "staff"
    update = WriteIntent.objects.get(operation=Operation.UPDATE_INSURANCE)
    assert update.target == {"insurance_id": insurance.pk, "fields": ["member_id"]}
    assert not WriteIntent.objects.filter(operation=Operation.UPDATE_PATIENT).exists()
    drain_intents()
    row = next(r for r in athena_insurances(elig, patient) if r["insuranceid"] == insurance.athena_insurance_id)
    assert row["insuranceidnumber"] == "EXH777888990"


def test_insurance_typed_on_the_portal_is_recorded_and_checked(elig: Sandbox, boston: Any) -> None:
    from tests.api.conftest import make_portal
    from tests.eligibility_flow.conftest import new_patient

    portal = make_portal("typed-insurance-portal", locations=["1"])
    patient = new_patient(boston, athena_patient_id=None)
    body = {"payer_name": "EXAMPLE HEALTH PLAN", "payer_id": "EX001", "member_id": "exh-500 600 700"}
    response = portal.post(f"/api/v1/patients/{patient.public_id}/insurances", body)
    assert response.status_code == 202, response.content
    insurance = patient.insurances.get()
    assert insurance.member_id == "EXH500600700"
    state = FieldState.objects.get(patient=patient, field=f"insurance.{insurance.pk}.member_id")
    assert (state.source, state.value) == ("portal", '"EXH500600700"')
    check = EligibilityCheck.objects.get(insurance=insurance)
    assert (check.trigger, check.member_id, check.route) == ("portal", "EXH500600700", "clearinghouse")
