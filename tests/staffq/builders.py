"""Sync rows made the way the hub makes them: conflicts through the golden record, stopped intents."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from hub.golden import Change, golden_merge
from hub.models import Patient
from sync.conflicts import conflicts_sync
from sync.models import Conflict, IntentEvent, WriteIntent

_events = itertools.count(1)


def raise_conflict(
    patient: Patient,
    *,
    field: str = "last_name",
    baseline: Any = "Baseline",
    ehr: Any = "Ehrside",
    portal: Any = "Portalside",
    opened_ago: dt.timedelta = dt.timedelta(minutes=30),
) -> Conflict:
    """A conflict as the golden record raises it: both sides moved away from the last agreed value."""
    start = timezone.now() - opened_ago - dt.timedelta(minutes=5)
    n = next(_events)
    golden_merge(patient=patient, changes=[(field, Change(start, "ehr", f"seed-{n}", baseline))])
    golden_merge(patient=patient, changes=[(field, Change(start + dt.timedelta(minutes=1), "ehr", f"ehr-{n}", ehr))])
    result = golden_merge(
        patient=patient, changes=[(field, Change(start + dt.timedelta(minutes=2), "portal", f"portal-{n}", portal))]
    )
    conflicts_sync(patient=patient, result=result)
    conflict = Conflict.objects.get(patient=patient, field=field, status=Conflict.Status.OPEN)
    Conflict.objects.filter(pk=conflict.pk).update(opened_at=timezone.now() - opened_ago)
    conflict.refresh_from_db()
    return conflict


def make_intent(
    patient: Patient,
    *,
    state: str = WriteIntent.State.PARKED,
    operation: str = WriteIntent.Operation.UPDATE_PATIENT,
    target: dict[str, Any] | None = None,
    last_error: str = "gave up after 8 attempts; athena 503",
    last_error_kind: str = "transient",
    athena_message: str = "",
    updated_ago: dt.timedelta = dt.timedelta(minutes=10),
) -> WriteIntent:
    """An intent that stopped where a staff member must look at it, with its history."""
    now = timezone.now()
    intent = WriteIntent.objects.create(
        practice_id=patient.practice_id,
        department=patient.department,
        patient=patient,
        operation=operation,
        natural_key=f"test:{operation}:{patient.pk}:{next(_events)}",
        target=target if target is not None else {"fields": ["last_name"]},
        state=state,
        attempts=8 if state == WriteIntent.State.PARKED else 1,
        next_attempt_at=now,
        last_error=last_error,
        last_error_kind=last_error_kind,
        athena_message=athena_message,
        finished_at=now if state in WriteIntent.FINAL_STATES else None,
    )
    IntentEvent.objects.create(intent=intent, from_state="", to_state="pending", note="created")
    IntentEvent.objects.create(
        intent=intent, from_state="in_flight", to_state=state, attempt=intent.attempts, note="test"
    )
    WriteIntent.objects.filter(pk=intent.pk).update(updated_at=now - updated_ago)
    intent.refresh_from_db()
    return intent
