"""The card upload endpoint: only sane JPEG/PNG photos are stored (encrypted), everything else is a 4xx."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from hub.fields import decrypt_bytes
from intake.card_storage import card_dir
from intake.models import CardImage, CardUpload, IdempotencyKey, Submission
from tests.api.conftest import Portal, make_portal
from tests.conftest import TaskQueue
from tests.factories import make_patient
from tests.ocr_flow.conftest import png, stored_files, upload_card

pytestmark = pytest.mark.django_db


def jpeg(width: int = 640, height: int = 400) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="JPEG")
    return out.getvalue()


def bomb(side: int) -> bytes:
    # A 1-bit image compresses to almost nothing whatever its size: the decompression-bomb shape.
    out = io.BytesIO()
    Image.new("1", (side, side), 1).save(out, format="PNG")
    return out.getvalue()


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200


@pytest.mark.parametrize(
    ("front", "status", "code"),
    [
        (b"", 422, "card-image-empty"),
        (jpeg()[:600], 422, "card-image-corrupt"),
        (png()[:-40], 422, "card-image-corrupt"),
        (b"%PDF-1.7\n" + b"x" * 500, 415, "card-image-unsupported"),
        (HEIC, 415, "card-image-unsupported"),
        (bomb(7000), 422, "card-image-too-many-pixels"),
        (bomb(20000), 422, "card-image-too-many-pixels"),
        (png(100, 60), 422, "card-image-too-small"),
    ],
    ids=["empty", "truncated-jpeg", "truncated-png", "not-an-image", "heic", "huge", "bomb", "tiny"],
)
def test_a_bad_card_photo_is_refused_and_nothing_is_stored(
    card_portal: Portal, patient: Any, front: bytes, status: int, code: str
) -> None:
    response = upload_card(card_portal, patient, front)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert not Submission.objects.exists() and not CardUpload.objects.exists()
    assert not IdempotencyKey.objects.exists()  # the key was never claimed: the portal may retry it
    assert stored_files() == []


def test_a_bad_back_side_refuses_the_whole_upload(card_portal: Portal, patient: Any) -> None:
    response = upload_card(card_portal, patient, jpeg(), b"not an image at all")
    assert response.status_code == 415
    assert stored_files() == [] and not CardUpload.objects.exists()


def test_an_oversized_photo_is_413(card_portal: Portal, patient: Any, settings: Any) -> None:
    settings.HUB_CARD_MAX_BYTES = 20_000
    noisy = Image.effect_noise((400, 300), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(out.getvalue()) > 20_000
    response = upload_card(card_portal, patient, out.getvalue())
    assert response.status_code == 413 and response.json()["code"] == "card-image-too-large"
    assert stored_files() == []


def test_a_missing_front_is_a_validation_error(card_portal: Portal, patient: Any) -> None:
    response = upload_card(card_portal, patient, None, jpeg())
    assert response.status_code == 400 and "front" in response.json()["errors"]


def test_a_good_upload_is_stored_encrypted_and_queued_with_ids_only(
    card_portal: Portal, patient: Any, settings: Any, task_queue: TaskQueue
) -> None:
    front, back = jpeg(), png()
    with task_queue.capture():
        response = upload_card(card_portal, patient, front, back)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "insurance_card" and body["status"] == "processing"
    assert body["card"] == {"state": "queued", "insurance_id": None, "fields_to_confirm": [], "eligibility_status": ""}
    upload = CardUpload.objects.get(submission__public_id=body["id"])
    images = {image.side: image for image in CardImage.objects.filter(upload=upload)}
    assert set(images) == {"front", "back"}
    for side, data in (("front", front), ("back", back)):
        raw = (card_dir() / images[side].file_name).read_bytes()
        assert data not in raw and decrypt_bytes(raw) == data  # encrypted at rest
        assert (card_dir() / images[side].file_name).stat().st_mode & 0o077 == 0
    assert not str(card_dir()).startswith(str(settings.STATIC_ROOT))
    tasks = task_queue.tasks()
    card_tasks = [task for task in tasks if task["func"] == "intake.tasks.read_card_upload"]
    assert [task["args"] for task in card_tasks] == [(upload.pk,)]
    assert front not in json.dumps([str(task) for task in tasks]).encode()


def test_the_same_key_and_photo_is_one_upload_and_another_photo_is_refused(card_portal: Portal, patient: Any) -> None:
    key = "card-upload-key-0001"
    first = upload_card(card_portal, patient, jpeg(), key=key)
    again = upload_card(card_portal, patient, jpeg(), key=key)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert CardUpload.objects.count() == 1 and len(stored_files()) == 1
    other = upload_card(card_portal, patient, jpeg(700, 440), key=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    assert len(stored_files()) == 1


def test_a_patient_of_another_location_is_not_found(card_portal: Portal, other_clinic: Any) -> None:
    stranger = make_patient(other_clinic)
    response = upload_card(card_portal, stranger, jpeg())
    assert response.status_code == 404 and response.json()["code"] == "patient-not-found"
    assert stored_files() == [] and not CardUpload.objects.exists()


def test_another_patients_insurance_is_not_found(card_portal: Portal, patient: Any, clinic: Any) -> None:
    from tests.factories import make_insurance

    someone_else = make_insurance(make_patient(clinic))
    response = upload_card(card_portal, patient, jpeg(), insurance_id=someone_else.pk)
    assert response.status_code == 404 and response.json()["code"] == "insurance-not-found"


def test_uploading_cards_needs_the_insurance_scope(clinic: Any, patient: Any) -> None:
    reader = make_portal("read-only-portal", locations=["1"], scopes=["read"])
    response = upload_card(reader, patient, jpeg())
    assert response.status_code == 403
    assert stored_files() == []


def test_a_missing_idempotency_key_is_refused(card_portal: Portal, patient: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = card_portal.http.post(
        f"/api/v1/patients/{patient.public_id}/insurance-cards",
        {"front": SimpleUploadedFile("f.jpg", jpeg(), content_type="image/jpeg")},
        **card_portal.headers(),
    )
    assert response.status_code == 400 and response.json()["code"] == "idempotency-key-missing"
    assert stored_files() == []
