"""Outbound portal events: written with the change they announce, delivered signed and in order.

`portal_event_emit` adds an event row inside the caller's transaction (an outbox). Delivery
is at-least-once with a stable `webhook-id`, ordered per patient (a patient's later event waits
for the earlier one), retried with jittered backoff for up to 72 hours, and stopped for the whole
endpoint when the portal answers 410. Every attempt is logged and audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from hub.audit import audit_record, journaled, outcome_for_status
from hub.integrations.portal.client import DeliveryRecord, PortalWebhookClient
from hub.models import AuditEvent, Department, Patient
from hub.queue import nudge
from sync.models import PortalDelivery, PortalEvent, WebhookEndpoint

logger = logging.getLogger(__name__)

# Standard Webhooks' example schedule, about 75 hours in all.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
GIVE_UP_AFTER = dt.timedelta(hours=72)
LEASE = dt.timedelta(seconds=30)


def portal_event_emit(
    *,
    type: str,
    department: Department,
    patient: Patient | None = None,
    data: dict[str, Any] | None = None,
    source_changed_at: dt.datetime | None = None,
    queue_delivery: bool = True,
) -> PortalEvent:
    """Record an event for the portal in the current transaction (ids and field names only).

    `queue_delivery=False` when the caller delivers right after its commit (the inbound path).
    """
    now = timezone.now()
    payload = dict(data or {})
    payload.setdefault("location_id", department.athena_department_id)
    if patient is not None:
        payload.setdefault("patient_id", str(patient.public_id))
    event = PortalEvent.objects.create(
        public_id=f"evt_{uuid.uuid4().hex}",
        type=type,
        patient=patient,
        department=department,
        data=payload,
        occurred_at=now,
        next_attempt_at=now,
        source_changed_at=source_changed_at,
    )
    if queue_delivery:
        nudge("sync.tasks.deliver_portal_events")
    return event


def event_payload(event: PortalEvent) -> dict[str, Any]:
    return {
        "id": event.public_id,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "cursor": event.pk,
        "data": event.data,
    }


@journaled(AuditEvent.System.PORTAL)
def _audit_delivery(record: DeliveryRecord) -> None:
    audit_record(
        system=AuditEvent.System.PORTAL,
        direction=AuditEvent.Direction.OUTBOUND,
        action="webhook",
        method="POST",
        route=record.route,
        status_code=record.status_code,
        outcome=outcome_for_status(record.status_code, failed=bool(record.error)),
        outcome_detail=record.error,
        latency_ms=record.latency_ms,
        object_type="portal_event",
        object_id=record.event_id,
    )


@lru_cache(maxsize=4)
def _client(secret: str, previous: str) -> PortalWebhookClient:
    return PortalWebhookClient(secrets=[secret, previous], audit_sink=_audit_delivery)


def webhook_client() -> PortalWebhookClient:
    return _client(settings.PORTAL_WEBHOOK_SECRET, settings.PORTAL_WEBHOOK_SECRET_PREVIOUS)


def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.objects.get_or_create(url=settings.PORTAL_WEBHOOK_URL)[0]


def due_events(now: dt.datetime) -> models.QuerySet[PortalEvent]:
    """Pending events whose time has come, the oldest of each patient first."""
    earlier = PortalEvent.objects.filter(
        patient_id=models.OuterRef("patient_id"),
        pk__lt=models.OuterRef("pk"),
        state__in=[PortalEvent.State.PENDING, PortalEvent.State.HELD],
    )
    lease_free = models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now)
    return (
        PortalEvent.objects.filter(lease_free, state=PortalEvent.State.PENDING, next_attempt_at__lte=now)
        .exclude(models.Q(patient__isnull=False) & models.Exists(earlier))
        .order_by("pk")
    )


def _claim(event_id: int) -> PortalEvent | None:
    """Lease one event if it is due and no earlier event of its patient waits (one conditional UPDATE)."""
    now = timezone.now()
    with transaction.atomic():
        leased = due_events(now).filter(pk=event_id).update(lease_until=now + LEASE, attempts=models.F("attempts") + 1)
        return PortalEvent.objects.get(pk=event_id) if leased else None


def next_delay(attempts: int, retry_after: float | None) -> float:
    base = RETRY_SCHEDULE[min(attempts - 1, len(RETRY_SCHEDULE) - 1)]
    jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not security
    return max(jittered, retry_after or 0.0)


def portal_event_deliver(*, event_id: int) -> bool:
    """Try to deliver one due event; False if it was not ours to deliver now."""
    site = endpoint()
    if site.disabled_at is not None:
        return False
    event = _claim(event_id)
    if event is None:
        return False
    result = webhook_client().deliver(site.url, message_id=event.public_id, payload=event_payload(event))
    now = timezone.now()
    with transaction.atomic():
        PortalDelivery.objects.create(
            event=event,
            attempt=event.attempts,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            succeeded=result.succeeded,
        )
        event.lease_until = None
        if result.succeeded:
            event.state, event.delivered_at = PortalEvent.State.DELIVERED, now
            WebhookEndpoint.objects.filter(pk=site.pk).update(last_success_at=now)
        elif result.gone:
            # 410: the portal retired this endpoint. Stop everything until an admin re-enables it.
            event.state = PortalEvent.State.HELD
            WebhookEndpoint.objects.filter(pk=site.pk).update(
                disabled_at=now, disabled_reason="the portal answered 410 Gone", last_failure_at=now
            )
            PortalEvent.objects.filter(state=PortalEvent.State.PENDING).update(state=PortalEvent.State.HELD)
        elif now - event.created_at > GIVE_UP_AFTER:
            event.state = PortalEvent.State.DEAD
            WebhookEndpoint.objects.filter(pk=site.pk).update(last_failure_at=now)
        else:
            event.next_attempt_at = now + dt.timedelta(seconds=next_delay(event.attempts, result.retry_after))
            WebhookEndpoint.objects.filter(pk=site.pk).update(last_failure_at=now)
        event.save(update_fields=["state", "delivered_at", "lease_until", "next_attempt_at"])
    return True


def portal_events_deliver_due(*, budget_seconds: float = 20.0, patient_id: int | None = None) -> int:
    """Deliver whatever is due (optionally only one patient's events) within a time budget."""
    deadline = time.monotonic() + budget_seconds
    delivered = 0
    while time.monotonic() < deadline:
        due: models.QuerySet[PortalEvent]
        if patient_id is not None:
            # One patient's pending events in order; the claim checks each is due and not overtaking.
            due = PortalEvent.objects.filter(patient_id=patient_id, state=PortalEvent.State.PENDING).order_by("pk")
        else:
            due = due_events(timezone.now())
        ids = list(due.values_list("pk", flat=True)[:50])
        if not ids:
            break
        progressed = False
        for event_id in ids:
            if portal_event_deliver(event_id=event_id):
                progressed = True
                delivered += 1
        if not progressed:
            break
    return delivered


@transaction.atomic
def portal_endpoint_enable(*, actor: str) -> int:
    """An admin re-enables the endpoint after a 410; held events are queued again, in order."""
    site = endpoint()
    WebhookEndpoint.objects.filter(pk=site.pk).update(disabled_at=None, disabled_reason="")
    count = PortalEvent.objects.filter(state=PortalEvent.State.HELD).update(
        state=PortalEvent.State.PENDING, next_attempt_at=timezone.now()
    )
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="enable-portal-endpoint",
        outcome=AuditEvent.Outcome.SUCCESS,
        detail={"requeued": count, "by": actor},
    )
    nudge("sync.tasks.deliver_portal_events")
    return count
