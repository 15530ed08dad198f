"""The OCR review queue: staff see the card beside doubtful fields, confirm or correct them, or ask for a new photo.

Readings here are written out as the reader returns them (no Tesseract), so each case is exact.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from eligibility.models import CardSignal, EligibilityCheck
from hub.models import AuditEvent, FieldState, PatientInsurance
from hub.roles import COMPLIANCE, FRONT_DESK
from intake.cards import card_reading_settle, fields_to_confirm
from intake.models import CardImage, CardUpload, OcrReview
from intake.ocr import CardReading
from notify.models import OutboundMessage
from sync.models import PortalEvent
from tests.api.conftest import Portal
from tests.factories import make_staff
from tests.ocr_flow.conftest import png, upload_card
from tests.staff.conftest import sign_in

pytestmark = pytest.mark.django_db
EXAMPLE = {"name": "EXAMPLE HEALTH PLAN", "score": 100.0, "decision": "accept", "type": "commercial"}


def reading(member_id: str = "EXH9O0100200", member_confidence: float = 0.62, **overrides: Any) -> CardReading:
    fields = {
        "payer_name": "EXAMPLE HEALTH PLAN",
        "member_id": member_id,
        "group_number": "GRP00042",
        "plan_type": "PPO",
        "subscriber_name": None,
        "rx_bin": "610279",
        "rx_pcn": None,
        "rx_group": None,
        "payer_id": "EX001",
        "phone": None,
        "copays": {},
    }
    confidence = dict.fromkeys(fields, 0.97)
    confidence["member_id"] = member_confidence
    fields.update(overrides)
    payer = {**EXAMPLE, "payer_ids": {"sandbox": {"270": "EX001"}}}
    return CardReading(
        fields=fields,
        confidence=confidence,
        needs_confirmation={"member_id": member_confidence < 0.8},
        payer=payer,
        timings={},
        alternatives={"member_id": ["EXH900100200"]} if member_confidence < 0.8 else {},
    )


def uploaded(portal: Portal, patient: Any, card: CardReading) -> CardUpload:
    response = upload_card(portal, patient, png(), png(color="gray"))
    assert response.status_code == 202
    upload = CardUpload.objects.get(submission__public_id=response.json()["id"])
    card_reading_settle(upload=upload, reading=card, to_confirm=fields_to_confirm(card))
    upload.refresh_from_db()
    return upload


@pytest.fixture
def desk(clinic: Any) -> Any:
    return make_staff("desk-cards", role=FRONT_DESK, departments=[clinic])


def test_a_doubtful_member_id_waits_for_staff_while_the_sure_fields_flow_on(card_portal: Portal, patient: Any) -> None:
    upload = uploaded(card_portal, patient, reading())
    assert upload.state == CardUpload.State.NEEDS_REVIEW and upload.to_confirm == ["member_id"]
    insurance = PatientInsurance.objects.get(pk=upload.insurance_id)
    assert (insurance.payer_name, insurance.group_number, insurance.member_id) == (
        "EXAMPLE HEALTH PLAN",
        "GRP00042",
        "",
    )
    assert (insurance.payer_id, insurance.athena_insurance_package_id) == ("EX001", "1001")  # PPO → package 1001
    sources = dict(FieldState.objects.filter(patient=patient).values_list("field", "source"))
    assert sources == {f"insurance.{insurance.pk}.payer_name": "ocr", f"insurance.{insurance.pk}.group_number": "ocr"}
    assert CardSignal.objects.get(insurance=insurance).member_id_confusable is True
    assert not EligibilityCheck.objects.exists()


def test_staff_see_the_card_beside_the_fields_and_confirm_a_corrected_id(
    card_portal: Portal, patient: Any, desk: Any, client: Client
) -> None:
    upload = uploaded(card_portal, patient, reading())
    review = OcrReview.objects.get(upload=upload)
    sign_in(client, desk)
    page = client.get(f"/admin/intake/ocrreview/{review.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/admin/intake/cardupload/{upload.pk}/image/front/" in html and 'name="field_member_id"' in html
    assert 'value="EXH9O0100200"' in html  # prefilled with what was read, for the person to fix
    image = client.get(f"/admin/intake/cardupload/{upload.pk}/image/front/")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content == png() and "no-store" in image["Cache-Control"]
    front = CardImage.objects.get(upload=upload, side="front")
    logged = AuditEvent.objects.filter(action="view", object_type="card_image", object_id=str(front.pk))
    assert logged.get().patient_ref == str(patient.pk) and logged.get().actor_label == "desk-cards"
    assert AuditEvent.objects.filter(action="view", object_type="ocr_review", object_id=str(review.pk)).exists()

    response = client.post(
        f"/admin/intake/ocrreview/{review.pk}/change/", {"action": "accept", "field_member_id": "exh9 001 00200"}
    )
    assert response.status_code == 302
    review.refresh_from_db()
    upload.refresh_from_db()
    assert review.status == OcrReview.Status.ACCEPTED and review.decided_by == desk
    assert upload.state == CardUpload.State.READ
    insurance = PatientInsurance.objects.get(pk=upload.insurance_id)
    assert insurance.member_id == "EXH900100200"
    state = FieldState.objects.get(patient=patient, field=f"insurance.{insurance.pk}.member_id")
    assert (state.source, state.event_id) == ("ocr", f"ocr-review-{review.pk}")
    check = EligibilityCheck.objects.get(insurance=insurance)
    assert (check.trigger, check.member_id) == ("card", "EXH900100200")
    row = AuditEvent.objects.get(action="ocr-review")
    assert row.detail == {"fields": ["member_id"], "decision": "accepted"} and "EXH9" not in json.dumps(row.detail)
    status = card_portal.get(f"/api/v1/submissions/{upload.submission.public_id}").json()
    assert status["status"] == "processing" and status["fields_in_review"] == []


def test_an_essential_field_cannot_be_confirmed_empty(
    card_portal: Portal, patient: Any, desk: Any, client: Client
) -> None:
    upload = uploaded(card_portal, patient, reading())
    review = OcrReview.objects.get(upload=upload)
    sign_in(client, desk)
    response = client.post(f"/admin/intake/ocrreview/{review.pk}/change/", {"action": "accept", "field_member_id": " "})
    assert response.status_code == 200 and "confirm a value for: member_id" in response.content.decode()
    review.refresh_from_db()
    assert review.status == OcrReview.Status.OPEN


def test_an_unreadable_card_asks_the_patient_for_a_new_photo(
    card_portal: Portal, patient: Any, desk: Any, client: Client
) -> None:
    blank = reading(member_id=None, payer_name=None, group_number=None)
    blank.payer.update(name=None, decision="reject", score=0.0)
    upload = uploaded(card_portal, patient, blank)
    assert upload.to_confirm == ["payer_name", "member_id"]
    review = OcrReview.objects.get(upload=upload)
    sign_in(client, desk)
    client.post(f"/admin/intake/ocrreview/{review.pk}/change/", {"action": "new_photo", "reason": "blurred"})
    upload.refresh_from_db()
    assert upload.state == CardUpload.State.UNREADABLE
    text = OutboundMessage.objects.get(patient=patient)
    assert (text.kind, text.reference) == ("needs_attention", f"card-unreadable:{upload.pk}")
    status = card_portal.get(f"/api/v1/submissions/{upload.submission.public_id}").json()
    assert status["status"] == "needs_attention"
    assert PortalEvent.objects.filter(type="submission.needs_attention").exists()


def test_other_locations_and_read_only_roles_cannot_act_on_a_card(
    card_portal: Portal, patient: Any, other_clinic: Any, client: Client
) -> None:
    upload = uploaded(card_portal, patient, reading())
    review = OcrReview.objects.get(upload=upload)
    elsewhere = make_staff("desk-elsewhere", role=FRONT_DESK, departments=[other_clinic])
    sign_in(client, elsewhere)
    assert client.get(f"/admin/intake/ocrreview/{review.pk}/change/").status_code == 404
    assert client.get(f"/admin/intake/cardupload/{upload.pk}/image/front/").status_code == 404
    assert not AuditEvent.objects.filter(object_type="card_image").exists()
    auditor = make_staff("auditor-cards", role=COMPLIANCE, all_locations=True)
    sign_in(client, auditor)
    page = client.get(f"/admin/intake/ocrreview/{review.pk}/change/")
    assert page.status_code == 200 and 'name="field_member_id"' not in page.content.decode()
    refused = client.post(f"/admin/intake/ocrreview/{review.pk}/change/", {"action": "accept", "field_member_id": "X"})
    assert refused.status_code == 403
    review.refresh_from_db()
    assert review.status == OcrReview.Status.OPEN


def test_the_home_page_lists_cards_waiting_for_confirmation(
    card_portal: Portal, patient: Any, desk: Any, client: Client
) -> None:
    uploaded(card_portal, patient, reading())
    sign_in(client, desk)
    response = client.get("/admin/")
    panel = next(p for p in response.context["panels"] if p.key == "intake-ocr-reviews")
    assert panel.data.count == 1 and "Member ID" in str(panel.data.rows[0].cells[3])


def test_the_card_lists_show_a_location_its_own_cards(
    card_portal: Portal, patient: Any, desk: Any, client: Client
) -> None:
    upload = uploaded(card_portal, patient, reading())
    sign_in(client, desk)
    for path in ("/admin/intake/ocrreview/", "/admin/intake/cardupload/"):
        response = client.get(path)
        assert response.status_code == 200 and patient.display_name in response.content.decode()
    page = client.get(f"/admin/intake/cardupload/{upload.pk}/change/")
    assert page.status_code == 200 and "EXH9O0100200" in page.content.decode()
    assert AuditEvent.objects.filter(action="view", object_type="card_upload", object_id=str(upload.pk)).exists()
