"""Inbound athena changes: verify and store notifications fast, then inflate and merge them.

`athena_notification_accept` is all the webhook does before answering: check the signature on
the raw body, insert one row per notification event (one INSERT, unique on the event id, so a
redelivery adds nothing) and queue processing. `inbound_event_process` fetches the resource
from athena, merges it into the golden record and says what follows (conflicts, writes back to
athena for fields the portal owns, events for the portal). Every stored event ends in a final
state staff can see: applied, ignored-duplicate, conflict or parked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from hub.audit import audit_record
from hub.golden import Change, MergeResult, golden_merge, split_insurance_field
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import AthenaNotFoundError, AthenaPermanentError, AthenaTransientError
from hub.integrations.athena.types import AthenaAppointment, AthenaPatient
from hub.models import Appointment, AppointmentType, AuditEvent, Department, Patient, Practice, Provider
from hub.queue import nudge
from sync import mapping
from sync.conflicts import conflicts_sync
from sync.models import InboundEvent, WriteIntent
from sync.portal_events import portal_event_emit, portal_events_deliver_due
from sync.services import intent_create

logger = logging.getLogger(__name__)

SYNCED_PATIENT_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "preferred_name",
    "dob",
    "sex",
    "email",
    "home_phone",
    "mobile_phone",
    "work_phone",
    "address1",
    "address2",
    "city",
    "state",
    "zip_code",
    "preferred_language",
    "consent_to_text",
    "consent_to_call",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
    "guarantor_first_name",
    "guarantor_last_name",
    "guarantor_dob",
    "guarantor_relationship",
)
APPOINTMENT_FIELDS = ("status", "date", "start_time", "duration_minutes", "provider_id", "appointment_type_id")
MAX_ATTEMPTS = 8
_REFERENCE = re.compile(r"^(?P<type>[A-Za-z]+)/a-\d+\.(?:E-)?(?P<id>[\w-]+)$")


class InvalidSignature(Exception):
    pass


class InvalidNotification(Exception):
    pass


@dataclass(frozen=True)
class NotificationEvent:
    event_id: str
    topic: str
    resource_type: str
    resource_id: str
    department_id: str
    occurred_at: dt.datetime


def verify_athena_signature(raw_body: bytes, header: str) -> None:
    """X-Hub-Signature: sha256=<hex HMAC of the raw body>, with the current or previous secret."""
    method, _, signature = (header or "").partition("=")
    if method.lower() != "sha256" or not signature:
        raise InvalidSignature("missing or unsupported signature")
    for secret in (settings.ATHENA_WEBHOOK_SECRET, settings.ATHENA_WEBHOOK_SECRET_PREVIOUS):
        if not secret:
            continue
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature.strip().lower()):
            return
    raise InvalidSignature("signature does not match")


def _parse_time(value: Any) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return timezone.now()
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_notification(body: dict[str, Any]) -> list[NotificationEvent]:
    """The events of an id-only FHIR subscription notification Bundle."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidNotification("not a notification bundle")
    entries = [entry.get("resource") or {} for entry in body.get("entry") or [] if isinstance(entry, dict)]
    statuses = [r for r in entries if r.get("resourceType") == "SubscriptionStatus"]
    audits = {r.get("id"): r for r in entries if r.get("resourceType") == "AuditEvent"}
    if not statuses:
        raise InvalidNotification("no SubscriptionStatus entry")
    events: list[NotificationEvent] = []
    for status in statuses:
        topic_url = str(status.get("topic") or "")
        for item in status.get("notificationEvent") or []:
            event_id = str(item.get("id") or "")
            focus = item.get("focus") or {}
            match = _REFERENCE.match(str(focus.get("reference") or ""))
            identifier = (focus.get("identifier") or {}).get("value")
            if not event_id or not (match or identifier):
                continue  # a heartbeat or a shape we do not know: nothing to inflate
            resource_type = (match.group("type") if match else topic_url.rsplit("/", 1)[-1].split(".")[0]).lower()
            audit = audits.get(event_id) or {}
            topic = str((audit.get("type") or {}).get("code") or topic_url.rsplit("/", 1)[-1])
            events.append(
                NotificationEvent(
                    event_id=event_id[:120],
                    topic=topic[:60],
                    resource_type=resource_type,
                    resource_id=str(identifier or match.group("id"))[:30],  # type: ignore[union-attr]
                    department_id=_department_of(item, audit),
                    occurred_at=_parse_time(item.get("timestamp") or body.get("timestamp")),
                )
            )
    return events


def _department_of(item: dict[str, Any], audit: dict[str, Any]) -> str:
    for context in item.get("additionalContext") or []:
        if context.get("type") == "Organization":
            value = (context.get("identifier") or {}).get("value")
            if value:
                return str(value)[:20]
    for extension in audit.get("extension") or []:
        reference = str((extension.get("valueReference") or {}).get("reference") or "")
        if "Department-" in reference:
            return reference.rsplit("Department-", 1)[-1][:20]
    return ""


def _audit_webhook(status_code: int, outcome: str, detail: str, **extra: Any) -> None:
    audit_record(
        system=AuditEvent.System.ATHENA,
        direction=AuditEvent.Direction.INBOUND,
        action="webhook",
        method="POST",
        route="/webhooks/athena/",
        status_code=status_code,
        outcome=outcome,
        outcome_detail=detail,
        **extra,
    )


def athena_notification_accept(*, raw_body: bytes, signature: str) -> int:
    """Verify, store and queue an athena notification; returns how many events were new."""
    try:
        verify_athena_signature(raw_body, signature)
    except InvalidSignature as exc:
        _audit_webhook(401, AuditEvent.Outcome.SERIOUS_FAILURE, f"rejected: {exc}")
        raise
    try:
        body = json.loads(raw_body)
        events = parse_notification(body)
    except (ValueError, InvalidNotification) as exc:
        _audit_webhook(400, AuditEvent.Outcome.MINOR_FAILURE, "unreadable notification")
        raise InvalidNotification(str(exc)) from exc
    with transaction.atomic():
        new = events_store(source=InboundEvent.Source.WEBHOOK, events=events, body=body, fast=True)
        _audit_webhook(
            200,
            AuditEvent.Outcome.SUCCESS,
            f"{new} new of {len(events)}",
            object_type="notification",
            object_id=events[0].event_id if events else "",
        )
    return new


def events_store(*, source: str, events: list[NotificationEvent], body: Any = None, fast: bool = False) -> int:
    """Insert events (one statement; duplicates ignored) and have them processed.

    `fast` (the webhook) processes them in this process right after the commit; otherwise a
    task is queued.
    """
    if not events:
        return 0
    departments = dict(
        Department.objects.filter(
            athena_department_id__in={e.department_id for e in events if e.department_id}
        ).values_list("athena_department_id", "pk")
    )
    ids = [e.event_id for e in events]
    existing = set(InboundEvent.objects.filter(source=source, event_id__in=ids).values_list("event_id", flat=True))
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=source,
                event_id=e.event_id,
                topic=e.topic,
                resource_type=e.resource_type,
                resource_id=e.resource_id,
                athena_department_id=e.department_id,
                department_id=departments.get(e.department_id),
                occurred_at=e.occurred_at,
                body=body,
                next_attempt_at=now,
            )
            for e in events
            if e.event_id not in existing
        ],
        ignore_conflicts=True,
    )
    fresh = set(ids) - existing
    if fresh:
        if fast and settings.HUB_INBOUND_FAST_PATH:
            from sync.fastpath import process_after_commit

            process_after_commit()
        else:
            nudge("sync.tasks.process_inbound_events")
    return len(fresh)


# --- processing ------------------------------------------------------------------------------------


def _claim(event_id: int) -> InboundEvent | None:
    now = timezone.now()
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.state != InboundEvent.State.RECEIVED:
            return None
        if event.lease_until and event.lease_until > now:
            return None
        if event.next_attempt_at and event.next_attempt_at > now:
            return None
        event.attempts += 1
        event.lease_until = now + dt.timedelta(seconds=60)
        event.save(update_fields=["attempts", "lease_until"])
        return event


def _finish(event: InboundEvent, state: str, *, error: str = "", changed: list[str] | None = None) -> None:
    InboundEvent.objects.filter(pk=event.pk).update(
        state=state,
        processed_at=timezone.now(),
        lease_until=None,
        error=error[:300],
        changed_fields=changed or [],
        patient_id=event.patient_id,
        department_id=event.department_id,
    )


def _practice() -> Practice:
    return Practice.objects.get_or_create(
        athena_practice_id=settings.ATHENA_PRACTICE_ID, defaults={"name": f"Practice {settings.ATHENA_PRACTICE_ID}"}
    )[0]


def patient_changes(athena_patient: AthenaPatient, *, time: dt.datetime, event_id: str) -> list[tuple[str, Change]]:
    values = mapping.patient_fields(athena_patient)
    changes = []
    for name in SYNCED_PATIENT_FIELDS:
        value = values.get(name)
        if isinstance(value, dt.date):
            value = value.isoformat()
        changes.append((name, Change(time, "ehr", event_id, value)))
    return changes


def _registration_awaiting_chart(practice: Practice, athena_patient: AthenaPatient) -> Patient | None:
    """A portal registration whose athena chart this is: link it instead of making a second patient.

    When athena's notification of a new chart overtakes the hub learning the chart's id (the write
    timed out or its connection dropped), the chart is the one the registration asked for: same
    name and date of birth, at this practice, still waiting for its chart. Its write intent then
    finds the chart linked when it reconciles.
    """
    if not athena_patient.dob:
        return None
    waiting = WriteIntent.objects.filter(
        operation=WriteIntent.Operation.CREATE_PATIENT, state__in=WriteIntent.OPEN_STATES
    ).values("patient_id")
    # The join stays in a subquery: PostgreSQL refuses FOR UPDATE together with DISTINCT.
    candidates = Patient.objects.select_for_update().filter(
        practice=practice,
        athena_patient_id__isnull=True,
        first_name__iexact=athena_patient.first_name,
        last_name__iexact=athena_patient.last_name,
        dob=athena_patient.dob,
        pk__in=waiting,
    )
    matches = list(candidates.order_by("pk")[:2])
    if len(matches) != 1:
        return None  # none, or ambiguous: let the normal path (and staff, if needed) decide
    patient = matches[0]
    patient.athena_patient_id = athena_patient.patient_id
    patient.save(update_fields=["athena_patient_id", "updated_at"])
    return patient


def patient_apply_from_athena(
    *, athena_patient: AthenaPatient, occurred_at: dt.datetime, event_id: str, department_hint: str = ""
) -> tuple[Patient | None, list[str], bool]:
    """Merge athena's view of a patient; returns (patient, changed fields, conflict raised)."""
    patient = Patient.objects.filter(
        practice__athena_practice_id=settings.ATHENA_PRACTICE_ID, athena_patient_id=athena_patient.patient_id
    ).first()
    if patient is None:
        practice = _practice()
        patient = _registration_awaiting_chart(practice, athena_patient)
        if patient is None:
            return _patient_create_from_athena(
                practice, athena_patient, occurred_at=occurred_at, event_id=event_id, department_hint=department_hint
            )
    result = golden_merge(patient=patient, changes=patient_changes(athena_patient, time=occurred_at, event_id=event_id))
    conflicts_sync(patient=patient, result=result)
    # The inbound processor delivers portal events itself, right after this commit.
    announce_merge(patient=patient, result=result, event_id=event_id, occurred_at=occurred_at, queue_delivery=False)
    return patient, result.changed_fields, bool(result.conflicts)


def _patient_create_from_athena(
    practice: Practice, athena_patient: AthenaPatient, *, occurred_at: dt.datetime, event_id: str, department_hint: str
) -> tuple[Patient | None, list[str], bool]:
    """A chart the hub has not seen: the patient, their golden record and a portal event (or None
    when the chart's location is not one of the hub's)."""
    department = Department.objects.filter(
        practice=practice, athena_department_id__in=[athena_patient.department_id, department_hint]
    ).first()
    if department is None:
        return None, [], False
    fields = mapping.patient_fields(athena_patient)
    patient = Patient.objects.create(
        practice=practice, department=department, athena_patient_id=athena_patient.patient_id, **fields
    )
    golden_merge(patient=patient, changes=patient_changes(athena_patient, time=occurred_at, event_id=event_id))
    portal_event_emit(
        type="patient.created",
        department=department,
        patient=patient,
        source_changed_at=occurred_at,
        queue_delivery=False,
    )
    return patient, ["created"], False


def announce_merge(
    *,
    patient: Patient,
    result: MergeResult,
    event_id: str,
    occurred_at: dt.datetime | None = None,
    force: list[str] | None = None,
    queue_delivery: bool = True,
) -> None:
    """What a merge sets in motion: writes of portal-owned values back to athena, and a portal event."""
    patient_fields = [name for name in result.athena_fields if split_insurance_field(name) is None]
    if patient_fields and patient.athena_patient_id:
        # athena still holds another value for fields the hub decided: write the decided value back.
        intent_create(
            operation=WriteIntent.Operation.UPDATE_PATIENT,
            patient=patient,
            department=patient.department,
            natural_key=f"update_patient:{patient.pk}:merge-{event_id}",
            target={"fields": sorted(patient_fields)},
        )
    by_insurance: dict[int, list[str]] = {}
    for name in result.athena_fields:
        if parsed := split_insurance_field(name):
            by_insurance.setdefault(parsed[0], []).append(parsed[1])
    for insurance_id, fields in sorted(by_insurance.items()):
        if (
            patient.athena_patient_id
            and patient.insurances.filter(pk=insurance_id, athena_insurance_id__isnull=False).exists()
        ):
            intent_create(
                operation=WriteIntent.Operation.UPDATE_INSURANCE,
                patient=patient,
                department=patient.department,
                natural_key=f"update_insurance:{insurance_id}:merge-{event_id}",
                target={"insurance_id": insurance_id, "fields": sorted(fields)},
            )
    announce = sorted(set(result.changed_fields) | set(result.cleared_conflicts) | set(force or []))
    if announce:
        portal_event_emit(
            type="patient.updated",
            department=patient.department,
            patient=patient,
            data={"changed_fields": announce, "source_event_id": event_id},
            source_changed_at=occurred_at,
            queue_delivery=queue_delivery,
        )


def appointment_apply_from_athena(
    *, client: AthenaClient, athena_appointment: AthenaAppointment, occurred_at: dt.datetime, event_id: str
) -> tuple[Appointment | None, list[str]]:
    """The EHR owns appointments: take athena's values and tell the portal what changed."""
    practice = _practice()
    department = Department.objects.filter(
        practice=practice, athena_department_id=athena_appointment.department_id
    ).first()
    if department is None:
        return None, []
    patient = None
    if athena_appointment.patient_id:
        patient = Patient.objects.filter(practice=practice, athena_patient_id=athena_appointment.patient_id).first()
        if patient is None:
            patient, _, _ = patient_apply_from_athena(
                athena_patient=client.get_patient(athena_appointment.patient_id),
                occurred_at=occurred_at,
                event_id=event_id,
                department_hint=department.athena_department_id,
            )
    values = mapping.appointment_fields(athena_appointment)
    values.update(
        department=department,
        patient=patient,
        provider=Provider.objects.filter(practice=practice, athena_provider_id=athena_appointment.provider_id).first(),
        appointment_type=AppointmentType.objects.filter(
            practice=practice, athena_appointment_type_id=athena_appointment.appointment_type_id
        ).first(),
    )
    appointment = Appointment.objects.filter(
        practice=practice, athena_appointment_id=athena_appointment.appointment_id
    ).first()
    before = (
        {
            "status": appointment.status,
            "date": appointment.date,
            "start_time": appointment.start_time,
            "duration_minutes": appointment.duration_minutes,
            "provider_id": appointment.provider_id,
            "appointment_type_id": appointment.appointment_type_id,
            "patient_id": appointment.patient_id,
        }
        if appointment
        else {}
    )
    if appointment is None:
        appointment = Appointment.objects.create(
            practice=practice, athena_appointment_id=athena_appointment.appointment_id, **values
        )
    else:
        for name, value in values.items():
            setattr(appointment, name, value)
        appointment.save()
    after = {
        "status": appointment.status,
        "date": appointment.date,
        "start_time": appointment.start_time,
        "duration_minutes": appointment.duration_minutes,
        "provider_id": appointment.provider_id,
        "appointment_type_id": appointment.appointment_type_id,
        "patient_id": appointment.patient_id,
    }
    changed = sorted(name for name, value in after.items() if before.get(name, object()) != value)
    if changed and appointment.patient_id:
        cancelled = appointment.status == Appointment.Status.CANCELLED
        portal_event_emit(
            type="appointment.cancelled" if cancelled else "appointment.updated",
            department=department,
            patient=appointment.patient,
            data={
                "appointment_id": appointment.athena_appointment_id,
                "status": appointment.status,
                "changed_fields": changed,
                "source_event_id": event_id,
            },
            source_changed_at=occurred_at,
            queue_delivery=False,  # the inbound processor delivers right after its commit
        )
    return appointment, changed


def inbound_event_process(*, event_id: int, client: AthenaClient) -> InboundEvent | None:
    """Inflate one stored event from athena and merge it; None when it was not claimable.

    Returns the event as processed (its patient set when the change was one of a known patient).
    """
    event = _claim(event_id)
    if event is None:
        return None
    try:
        if event.resource_type == "patient":
            athena_patient = client.get_patient(event.resource_id)
            with transaction.atomic():
                patient, changed, conflict = patient_apply_from_athena(
                    athena_patient=athena_patient,
                    occurred_at=event.occurred_at,
                    event_id=event.event_id,
                    department_hint=event.athena_department_id,
                )
                if patient is None:
                    _finish(event, InboundEvent.State.PARKED, error="the patient's location is not known to the hub")
                    return event
                event.patient_id, event.department_id = patient.pk, patient.department_id
                state = (
                    InboundEvent.State.CONFLICT
                    if conflict
                    else (InboundEvent.State.APPLIED if changed else InboundEvent.State.DUPLICATE)
                )
                _finish(event, state, changed=changed)
        elif event.resource_type == "appointment":
            athena_appointment = client.get_appointment(event.resource_id)
            with transaction.atomic():
                appointment, changed = appointment_apply_from_athena(
                    client=client,
                    athena_appointment=athena_appointment,
                    occurred_at=event.occurred_at,
                    event_id=event.event_id,
                )
                if appointment is None:
                    _finish(event, InboundEvent.State.PARKED, error="the appointment's location is not known")
                    return event
                event.patient_id, event.department_id = appointment.patient_id, appointment.department_id
                _finish(event, InboundEvent.State.APPLIED if changed else InboundEvent.State.DUPLICATE, changed=changed)
        else:
            _finish(event, InboundEvent.State.DUPLICATE, error=f"{event.resource_type} changes are not synced")
    except AthenaNotFoundError:
        _finish(event, InboundEvent.State.PARKED, error="athena no longer has this record")
    except AthenaTransientError as exc:
        if event.attempts >= MAX_ATTEMPTS:
            _finish(event, InboundEvent.State.PARKED, error=f"gave up: {exc}")
        else:
            delay = min(600, 2**event.attempts)
            InboundEvent.objects.filter(pk=event.pk).update(
                lease_until=None, next_attempt_at=timezone.now() + dt.timedelta(seconds=delay), error=str(exc)[:300]
            )
    except AthenaPermanentError as exc:
        _finish(event, InboundEvent.State.PARKED, error=str(exc))
    except Exception as exc:
        logger.exception("inbound event %s failed unexpectedly", event.pk)
        _finish(event, InboundEvent.State.PARKED, error=f"unexpected error: {type(exc).__name__}")
    return event


def inbound_events_process_due(
    *, client: AthenaClient, budget_seconds: float = 30.0, sources: tuple[str, ...] | None = None
) -> int:
    """Process received events that are due (optionally only from `sources`), oldest change first.

    athena's webhooks come before the safety nets (changed feeds, reconciliation): a feed read
    can bring a minute of changes at once, most of them already merged from their webhooks, and
    fresh notifications must not wait behind it.
    """
    import time

    deadline = time.monotonic() + budget_seconds
    processed = 0
    while time.monotonic() < deadline:
        now = timezone.now()
        due = (
            InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED)
            .filter(models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now))
            .filter(models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now))
        )
        if sources is not None:
            due = due.filter(source__in=sources)
        webhook_first = models.Case(
            models.When(source=InboundEvent.Source.WEBHOOK, then=models.Value(0)), default=models.Value(1)
        )
        ids = list(due.order_by(webhook_first, "occurred_at", "pk").values_list("pk", flat=True)[:50])
        if not ids:
            break
        for event_id in ids:
            event = inbound_event_process(event_id=event_id, client=client)
            if event is not None:
                processed += 1
                # Deliver this change to the portal now rather than after the whole batch.
                if event.patient_id is not None:
                    portal_events_deliver_due(patient_id=event.patient_id, budget_seconds=5)
    return processed
