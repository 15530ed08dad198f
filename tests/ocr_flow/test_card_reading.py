"""Generated cards at several degradation levels through the real path: upload → OCR job → insurance fields.

Thresholds per level: a clean card is read without help; a mildly degraded one may ask staff about
a field but its member id reads right after confusable handling; at every level a field that flows
on without review must be right (a wrong member id never slips through silently).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eligibility.models import CardSignal, EligibilityCheck
from hub.models import FieldState, PatientInsurance
from intake.models import CardUpload, OcrReview
from intake.ocr.cards import generate_card
from sync.models import PortalEvent
from tests.api.conftest import Portal
from tests.ocr_flow.conftest import needs_tesseract, read_upload, upload_card

pytestmark = [pytest.mark.django_db, needs_tesseract]
CONFUSABLE = str.maketrans("OISBZG", "015826")


def same_id(read: str | None, truth: str) -> bool:
    return (read or "").upper().translate(CONFUSABLE) == truth.upper().translate(CONFUSABLE)


@pytest.mark.parametrize(("seed", "level"), [(32, 0), (40, 1), (21, 2), (9, 3)])
def test_a_card_photo_becomes_insurance_fields_or_a_review(
    card_portal: Portal, patient: Any, seed: int, level: int
) -> None:
    card = generate_card(seed, level)
    truth = card.truth
    response = upload_card(card_portal, patient, card.front, card.back)
    assert response.status_code == 202, response.content
    upload = read_upload(response.json())
    reading = json.loads(upload.reading)
    insurance = PatientInsurance.objects.get(pk=upload.insurance_id)
    member_state = FieldState.objects.filter(patient=patient, field=f"insurance.{insurance.pk}.member_id").first()

    if level == 0:
        assert upload.state == CardUpload.State.READ, upload.to_confirm
        assert reading["member_id"] == truth["member_id"]
    if level <= 1:
        assert same_id(reading["member_id"], truth["member_id"])
    if "member_id" not in upload.to_confirm:
        # Accepted without a person: it must be right, and it is the insurance's value from the card.
        assert same_id(insurance.member_id, truth["member_id"]) and insurance.member_id == reading["member_id"]
        assert member_state is not None and member_state.source == "ocr"
    else:
        assert insurance.member_id == "" and member_state is None  # nothing doubtful flows on
    if "payer_name" not in upload.to_confirm:
        assert insurance.payer_name == truth["payer_canonical"]
    signal = CardSignal.objects.get(insurance=insurance)
    assert signal.member_id_confidence == pytest.approx(upload.confidence["member_id"], abs=0.001)

    status = card_portal.get(f"/api/v1/submissions/{response.json()['id']}").json()
    if upload.to_confirm:
        assert status["status"] == "needs_confirmation"
        assert status["card"]["fields_to_confirm"] == upload.to_confirm == status["fields_in_review"]
        assert OcrReview.objects.get(upload=upload).fields == upload.to_confirm
        event = PortalEvent.objects.get(type="submission.needs_confirmation")
        assert event.data["fields_to_confirm"] == upload.to_confirm
        assert truth["member_id"] not in json.dumps(event.data)
        assert not EligibilityCheck.objects.filter(insurance=insurance).exists()
    else:
        # Everything read surely: the coverage is checked with the card's member id.
        check = EligibilityCheck.objects.get(insurance=insurance)
        assert check.trigger == "card" and check.member_id == reading["member_id"]
        assert status["status"] == "processing"
