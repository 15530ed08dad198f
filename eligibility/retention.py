"""Retention of the eligibility app's payloads: the raw X12 of every attempt."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from eligibility.models import EligibilityAttempt


def purge_x12_payloads(before: dt.datetime) -> int:
    """Blank the raw 270/271 (and the member id tried) of attempts sent before `before`; idempotent."""
    return EligibilityAttempt.objects.filter(sent_at__lt=before, payload_purged_at__isnull=True).update(
        request_x12="", response_x12="", member_id="", payload_purged_at=timezone.now()
    )
