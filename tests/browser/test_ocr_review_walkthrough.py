"""The OCR review queue in Chromium: the desk sees the card photo beside a doubtful member id, fixes it
and confirms; compliance may look at the card but not confirm it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from eligibility.models import EligibilityCheck
from hub.models import AuditEvent, InsurancePackage, PatientInsurance
from hub.roles import COMPLIANCE, FRONT_DESK
from intake.cards import card_reading_settle, fields_to_confirm
from intake.models import CardImage, CardUpload, OcrReview
from intake.ocr import CardReading
from intake.ocr.cards import generate_card
from tests.api.conftest import make_portal
from tests.browser.test_sync_queues_walkthrough import sign_in
from tests.factories import make_department, make_patient, make_staff

# Database access comes from the `live_hub` fixture (transactional: the live server must see the rows).
pytestmark = [pytest.mark.browser]


@pytest.fixture(autouse=True)
def private_media(settings: Any, tmp_path: Path) -> None:
    settings.HUB_PRIVATE_MEDIA_DIR = tmp_path / "private"


def misread(truth: dict[str, Any]) -> tuple[CardReading, str]:
    """What the reader returns for a card whose member id has a 0 it could not tell from an O."""
    member_id = truth["member_id"]
    position = next((i for i, c in enumerate(member_id) if c == "0"), len(member_id) - 1)
    doubtful = member_id[:position] + "O" + member_id[position + 1 :]
    fields = {
        "payer_name": "EXAMPLE HEALTH PLAN",
        "member_id": doubtful,
        "group_number": truth["group_number"] or "GRP00042",
        "plan_type": "PPO",
        "subscriber_name": None,
        "rx_bin": None,
        "rx_pcn": None,
        "rx_group": None,
        "payer_id": "EX001",
        "phone": None,
        "copays": {},
    }
    confidence = dict.fromkeys(fields, 0.97)
    confidence["member_id"] = 0.55
    payer = {
        "name": "EXAMPLE HEALTH PLAN",
        "score": 100.0,
        "decision": "accept",
        "type": "commercial",
        "payer_ids": {"sandbox": {"270": "EX001"}},
    }
    card = CardReading(
        fields=fields,
        confidence=confidence,
        needs_confirmation={"member_id": True},
        payer=payer,
        timings={},
        alternatives={"member_id": [member_id]},
    )
    return card, doubtful


def uploaded_card(clinic: Any) -> tuple[CardUpload, dict[str, Any], str]:
    """A synthetic card photo sent by the portal, read with one doubtful field."""
    InsurancePackage.objects.create(
        practice=clinic.practice,
        athena_insurance_package_id="1001",
        name="EXAMPLE HEALTH PLAN PPO",
        payer_name="EXAMPLE HEALTH PLAN",
        payer_id="EX001",
    )
    patient = make_patient(clinic, first_name="Synthia", last_name="Cardwell", athena_patient_id=None)
    card = generate_card(seed=11, level=1)
    portal = make_portal("card-portal", locations=[clinic.athena_department_id])
    response = portal.http.post(
        f"/api/v1/patients/{patient.public_id}/insurance-cards",
        {
            "front": SimpleUploadedFile("front.jpg", card.front, content_type="image/jpeg"),
            "back": SimpleUploadedFile("back.jpg", card.back, content_type="image/jpeg"),
        },
        **portal.headers(str(uuid.uuid4())),
    )
    assert response.status_code == 202, response.content
    upload = CardUpload.objects.get(submission__public_id=response.json()["id"])
    reading, doubtful = misread(card.truth)
    card_reading_settle(upload=upload, reading=reading, to_confirm=fields_to_confirm(reading))
    upload.refresh_from_db()
    assert upload.state == CardUpload.State.NEEDS_REVIEW
    return upload, card.truth, doubtful


def test_front_desk_confirms_a_corrected_member_id_beside_the_card_photo(
    live_hub: Any, browser: Any, screenshot_dir: Path
) -> None:
    clinic = make_department(name="Harbor Family Medicine", athena_department_id="1")
    upload, truth, doubtful = uploaded_card(clinic)
    review = OcrReview.objects.get(upload=upload)
    desk = make_staff("desk-cards", role=FRONT_DESK, departments=[clinic])
    page = sign_in(browser, live_hub.url, desk)

    page.goto(f"{live_hub.url}/admin/intake/ocrreview/")
    page.wait_for_selector("#result_list")
    page.screenshot(path=screenshot_dir / "20-front-desk-ocr-queue.png", full_page=True)
    page.click(f"#result_list a[href$='/ocrreview/{review.pk}/change/']")
    page.wait_for_selector("#card-images img")
    # The photo is really shown (decoded by the browser), beside the field to check.
    page.wait_for_function("() => [...document.querySelectorAll('#card-images img')].every(i => i.complete)")
    widths = page.eval_on_selector_all("#card-images img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 2 and all(width > 0 for width in widths)
    assert page.inner_text("#card-images figure:first-child figcaption").startswith("Front")
    assert page.input_value("#id_field_member_id") == doubtful
    page.screenshot(path=screenshot_dir / "21-front-desk-ocr-review.png", full_page=True)

    page.fill("#id_field_member_id", truth["member_id"])
    page.click("#accept")
    page.wait_for_load_state()
    page.screenshot(path=screenshot_dir / "22-front-desk-ocr-confirmed.png", full_page=True)

    review.refresh_from_db()
    upload.refresh_from_db()
    assert review.status == OcrReview.Status.ACCEPTED and review.decided_by == desk
    assert upload.state == CardUpload.State.READ
    insurance = PatientInsurance.objects.get(pk=upload.insurance_id)
    assert insurance.member_id == truth["member_id"]
    assert EligibilityCheck.objects.get(insurance=insurance).member_id == truth["member_id"]
    front = CardImage.objects.get(upload=upload, side="front")
    seen = AuditEvent.objects.filter(action="view", object_type="card_image", object_id=str(front.pk))
    assert seen.filter(actor_label="desk-cards").exists()
    assert AuditEvent.objects.filter(action="ocr-review", actor_label="desk-cards").exists()


def test_compliance_sees_the_card_but_cannot_confirm_it(live_hub: Any, browser: Any, screenshot_dir: Path) -> None:
    clinic = make_department(name="Harbor Family Medicine", athena_department_id="1")
    upload, _, doubtful = uploaded_card(clinic)
    review = OcrReview.objects.get(upload=upload)
    auditor = make_staff("auditor", role=COMPLIANCE, all_locations=True)
    page = sign_in(browser, live_hub.url, auditor)
    page.goto(f"{live_hub.url}/admin/intake/ocrreview/{review.pk}/change/")
    page.wait_for_selector("#card-images img")
    assert page.locator("#accept").count() == 0 and page.locator("#id_field_member_id").count() == 0
    assert "cannot confirm" in page.inner_text("#read-only-note") or "not confirm" in page.inner_text("#read-only-note")
    assert doubtful in page.inner_text("#card-fields")
    page.screenshot(path=screenshot_dir / "23-compliance-ocr-review-read-only.png", full_page=True)
    review.refresh_from_db()
    assert review.status == OcrReview.Status.OPEN
