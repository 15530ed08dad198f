"""The raw X12 of eligibility attempts is purged on schedule; the answer staff read stays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from eligibility.models import EligibilityAttempt
from hub.models import AuditEvent
from hub.retention import payloads_purge
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import card_insurance, check_now, new_patient, payer_member

pytestmark = pytest.mark.django_db


def test_x12_payloads_are_purged_after_the_retention_period(elig: Sandbox, boston: Any, settings: Any) -> None:
    patient = new_patient(boston)
    payer_member(elig, "EXH600000001", patient)
    check = check_now(card_insurance(patient, "EXH600000001"))
    attempt = EligibilityAttempt.objects.get(eligibility_check=check)
    assert "EXH600000001" in attempt.request_x12 and attempt.response_x12.startswith("ISA")
    settings.HUB_PAYLOAD_RETENTION_DAYS = 30
    assert payloads_purge(now=timezone.now() + dt.timedelta(days=29))["eligibility-x12"] == 0
    assert payloads_purge(now=timezone.now() + dt.timedelta(days=31))["eligibility-x12"] == 1
    attempt.refresh_from_db()
    assert (attempt.request_x12, attempt.response_x12, attempt.member_id) == ("", "", "")
    assert attempt.payload_purged_at is not None
    check.refresh_from_db()
    assert check.result == "active" and check.summary["plan"]  # the answer itself is kept
    purge = AuditEvent.objects.filter(action="purge", object_type="eligibility-x12").order_by("-sequence").first()
    assert purge is not None and purge.detail["deleted"] == 1
    assert payloads_purge(now=timezone.now() + dt.timedelta(days=40))["eligibility-x12"] == 0  # idempotent
