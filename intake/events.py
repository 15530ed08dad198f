"""Portal events about submissions: when a write settles, the portal hears about it."""

from __future__ import annotations

from django.db import transaction

from intake.models import Submission
from intake.services import submission_status
from sync.models import WriteIntent
from sync.portal_events import portal_event_emit

STATUS_EVENTS: dict[str, str] = {
    Submission.Status.COMPLETED: "submission.completed",
    Submission.Status.FAILED: "submission.failed",
    Submission.Status.NEEDS_ATTENTION: "submission.needs_attention",
}


def submission_intent_settled(intent_id: int) -> None:
    """Ledger hook: tell the portal about each submission this intent finished (or stalled)."""
    intent = WriteIntent.objects.get(pk=intent_id)
    with transaction.atomic():  # part of the settling transaction when called from the ledger
        for submission in Submission.objects.filter(intents=intent).select_related("patient", "department"):
            status = submission_status(submission)
            event_type = STATUS_EVENTS.get(status)
            if event_type is None:
                continue
            portal_event_emit(
                type=event_type,
                department=submission.department,
                patient=submission.patient,
                data={
                    "submission_id": str(submission.public_id),
                    "kind": submission.kind,
                    "status": status,
                    "intent_id": intent.pk,
                    "operation": intent.operation,
                    "intent_state": intent.state,
                },
            )
