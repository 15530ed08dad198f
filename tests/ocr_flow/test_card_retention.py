"""Card images are purged on schedule: files, readings and stray files from rolled-back requests."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.models import AuditEvent
from hub.retention import payloads_purge
from hub.roles import FRONT_DESK
from intake.card_files import card_image_for_athena
from intake.card_storage import card_dir
from intake.cards import card_reading_settle, fields_to_confirm
from intake.models import CardImage, CardUpload
from tests.api.conftest import Portal
from tests.factories import make_staff
from tests.ocr_flow.conftest import png, stored_files, upload_card
from tests.ocr_flow.test_ocr_review import reading
from tests.staff.conftest import sign_in

pytestmark = pytest.mark.django_db


def test_card_images_and_readings_are_purged_after_the_retention_period(
    card_portal: Portal, patient: Any, clinic: Any, client: Client, settings: Any
) -> None:
    response = upload_card(card_portal, patient, png(), png(color="gray"))
    upload = CardUpload.objects.get(submission__public_id=response.json()["id"])
    card = reading()
    card_reading_settle(upload=upload, reading=card, to_confirm=fields_to_confirm(card))
    stray = card_dir() / "0123456789abcdef0123456789abcdef.card"
    stray.write_bytes(b"left behind by a request that rolled back")
    an_hour_ago = time.time() - 3700
    os.utime(stray, (an_hour_ago, an_hour_ago))
    assert len(stored_files()) == 3

    settings.HUB_PAYLOAD_RETENTION_DAYS = 30
    assert payloads_purge(now=timezone.now() + dt.timedelta(days=29))["card-images"] == 1  # only the stray file
    assert len(stored_files()) == 2
    assert payloads_purge(now=timezone.now() + dt.timedelta(days=31))["card-images"] == 2
    assert stored_files() == []
    assert all(image.purged_at for image in CardImage.objects.filter(upload=upload))
    upload.refresh_from_db()
    assert upload.reading == "" and upload.payload_purged_at is not None
    with pytest.raises(LookupError):
        card_image_for_athena(upload.pk)  # an upload to athena now parks for staff instead of failing oddly
    sign_in(client, make_staff("desk-retention", role=FRONT_DESK, departments=[clinic]))
    assert client.get(f"/admin/intake/cardupload/{upload.pk}/image/front/").status_code == 404
    purge = AuditEvent.objects.filter(action="purge", object_type="card-images").order_by("-sequence").first()
    assert purge is not None and purge.detail["deleted"] == 2
