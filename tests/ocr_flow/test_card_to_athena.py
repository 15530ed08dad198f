"""A card photo end to end: upload, OCR, eligibility, then the verified insurance and its image in athena."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from eligibility.models import EligibilityCheck
from hub.athena import build_athena_client
from hub.models import AuditEvent, FieldState, Patient, PatientInsurance
from intake.card_files import card_image_for_athena
from intake.models import CardUpload
from intake.ocr.cards import generate_card
from sync.models import WriteIntent
from tests.api.conftest import Portal, registration
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import drain_intents, payer_member, run_checks
from tests.ocr_flow.conftest import needs_tesseract, read_upload, upload_card

pytestmark = [pytest.mark.django_db, needs_tesseract]
IMAGE_ROUTE = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/image"


def registered_patient(portal: Portal, first: str, last: str) -> Patient:
    response = portal.post("/api/v1/patients", registration(first_name=first, last_name=last))
    assert response.status_code == 202, response.content
    drain_intents()
    patient = Patient.objects.get(public_id=response.json()["patient_id"])
    assert patient.athena_patient_id
    return patient


def test_a_card_photo_becomes_a_verified_athena_insurance_with_its_image(
    elig: Sandbox, card_portal: Portal, clinic: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    card = generate_card(32, 0)  # an EXAMPLE HEALTH PLAN PPO card, printed clean
    truth = card.truth
    assert truth["payer_canonical"] == "EXAMPLE HEALTH PLAN" and truth["plan_type"] == "PPO"
    first, last = truth["subscriber_name"].title().split()
    patient = registered_patient(card_portal, first, last)
    payer_member(elig, truth["member_id"], patient, group_number=truth["group_number"])
    # athena drops the connection after storing the image: the ledger must find it, not send it twice.
    elig.configure(faults={"rules": [{"method": "POST", "route": IMAGE_ROUTE, "kind": "drop_after", "count": 1}]})

    response = upload_card(card_portal, patient, card.front, card.back)
    assert response.status_code == 202
    upload = read_upload(response.json())
    assert upload.state == CardUpload.State.READ and upload.to_confirm == []
    run_checks()
    check = EligibilityCheck.objects.get(patient=patient)
    assert (check.trigger, check.result) == ("card", "active")
    drain_intents()

    insurance = PatientInsurance.objects.get(pk=upload.insurance_id)
    assert insurance.athena_insurance_id and insurance.eligibility_status == "active"
    in_athena = elig.records("insurances", patientid=patient.athena_patient_id)["insurances"]
    assert [(row["insuranceid"], row["insuranceidnumber"], row["insurancepackageid"]) for row in in_athena] == [
        (insurance.athena_insurance_id, truth["member_id"], "1001")
    ]
    member = FieldState.objects.get(patient=patient, field=f"insurance.{insurance.pk}.member_id")
    assert member.source == "eligibility"

    upload_intent = WriteIntent.objects.get(operation=WriteIntent.Operation.UPLOAD_CARD)
    assert upload_intent.state == WriteIntent.State.SUCCEEDED and upload_intent.reconciled
    assert len(elig.requests(route=IMAGE_ROUTE, method="POST")) == 1
    stored = build_athena_client().get_insurance_card(patient.athena_patient_id, insurance.athena_insurance_id)
    assert stored == card_image_for_athena(upload.pk)
    assert base64.b64encode(card.front) not in stored

    status = card_portal.get(f"/api/v1/submissions/{response.json()['id']}").json()
    assert status["status"] == "completed"
    assert status["card"]["eligibility_status"] == "active"
    assert [intent["operation"] for intent in status["intents"]] == ["upload_card"]
    systems = set(AuditEvent.objects.values_list("system", flat=True))
    assert {"ocr", "clearinghouse", "athena", "portal"} <= systems

    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in (truth["member_id"], first.upper(), last.upper(), truth["group_number"]):
        assert value not in logged.upper()
