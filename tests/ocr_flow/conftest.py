"""Insurance cards through the portal API: upload, the OCR job, staff review, coverage, athena."""

from __future__ import annotations

import io
import shutil
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from hub.models import Department, InsurancePackage, Patient
from intake.card_storage import card_dir
from intake.cards import card_upload_read
from intake.models import CardUpload
from tests.api.conftest import Portal, make_portal
from tests.eligibility_flow.conftest import VALID_NPI, elig  # noqa: F401 - the sandbox as clearinghouse too
from tests.factories import make_department, make_patient, make_practice, make_provider

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


@pytest.fixture(autouse=True)
def private_media(settings: Any, tmp_path: Any) -> Any:
    """Each test's card files in their own folder, so "nothing stored" can be checked on disk."""
    settings.HUB_PRIVATE_MEDIA_DIR = tmp_path / "private"
    return settings.HUB_PRIVATE_MEDIA_DIR


@pytest.fixture
def clinic(db: Any) -> Department:
    practice = make_practice()
    department = make_department(practice, athena_department_id="1", name="Harbor Family Medicine")
    make_provider(department, npi=VALID_NPI)
    for package_id, name in (("1001", "EXAMPLE HEALTH PLAN PPO"), ("1002", "EXAMPLE HEALTH PLAN HMO")):
        InsurancePackage.objects.get_or_create(
            practice=practice,
            athena_insurance_package_id=package_id,
            defaults={"name": name, "payer_name": "EXAMPLE HEALTH PLAN", "payer_id": "EX001"},
        )
    return department


@pytest.fixture
def other_clinic(clinic: Department) -> Department:
    return make_department(clinic.practice, athena_department_id="157", name="Lone Star Clinic")


@pytest.fixture
def card_portal(clinic: Department) -> Portal:
    return make_portal("card-portal", locations=["1"])


@pytest.fixture
def patient(clinic: Department) -> Patient:
    return make_patient(clinic, athena_patient_id=None)


def png(width: int = 640, height: int = 400, color: str = "white", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, format="PNG")
    return out.getvalue()


def upload_card(
    portal: Portal,
    patient: Patient,
    front: bytes | None,
    back: bytes | None = None,
    *,
    key: str | None = None,
    names: tuple[str, str] = ("front.jpg", "back.jpg"),
    **fields: Any,
) -> Any:
    body: dict[str, Any] = dict(fields)
    if front is not None:
        body["front"] = SimpleUploadedFile(names[0], front, content_type="image/jpeg")
    if back is not None:
        body["back"] = SimpleUploadedFile(names[1], back, content_type="image/jpeg")
    return portal.http.post(
        f"/api/v1/patients/{patient.public_id}/insurance-cards", body, **portal.headers(key or str(uuid.uuid4()))
    )


def stored_files() -> list[str]:
    return sorted(path.name for path in card_dir().iterdir())


def read_upload(submission: dict[str, Any]) -> CardUpload:
    """Run the OCR job the upload queued (as the worker would) and return the upload."""
    upload = CardUpload.objects.get(submission__public_id=submission["id"])
    card_upload_read(upload_id=upload.pk)
    upload.refresh_from_db()
    return upload
