"""Polling athena's changed-data feeds: the safety net under webhooks, feeding the same pipeline.

Feeds are destructive reads per API key, so each poll first peeks (`leaveunprocessed`) and stores
what it sees, then reads for real and stores again: a record is in our database before athena
marks it delivered. Records become inbound events keyed on resource and modification time.

Most records are changes the hub already merged from their webhooks, and a read can hold a
minute of them. Processing an event reads the resource afresh from athena, so only the newest
record of each resource in a read is worth processing, and not even that one when the hub has
read the resource from athena since that change, or its values are the ones athena last reported.
The others need nothing: they are counted on the feed's state, not stored, and athena is not
called for them. The feed adds work (and writes) only for the changes whose webhook never came.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.coerce import to_datetime, to_str
from hub.integrations.athena.errors import AthenaPermanentError
from hub.integrations.athena.types import AthenaAppointment, AthenaPatient
from hub.models import Appointment, ChangeSet, FieldState, Patient
from sync import mapping
from sync.inbound import SYNCED_PATIENT_FIELDS, NotificationEvent, events_store
from sync.models import FeedState, InboundEvent
from sync.reconcile import appointment_drift, patient_drift

FEEDS = {"patients": ("patient", "patientid"), "appointments": ("appointment", "appointmentid")}
# athena stamps changed-feed records in Eastern time.
ATHENA_FEED_ZONE = ZoneInfo("America/New_York")
ATHENA_TIME_PRECISION = dt.timedelta(seconds=1)  # mm/dd/yyyy hh24:mi:ss


def _event_for(feed: str, record: dict[str, Any], read_at: dt.datetime) -> NotificationEvent | None:
    resource_type, id_key = FEEDS[feed]
    resource_id = to_str(record.get(id_key))
    if not resource_id:
        return None
    modified = to_str(record.get("lastmodified") or record.get("lastupdated"))
    # When the record's values held: athena's time is cut to the second, and the change may have
    # come up to a second later (after a webhook change of the same second the hub already merged);
    # the values still held when the feed was read. So the later of the two bounds is used, never
    # past the read.
    modified_at = to_datetime(modified, ATHENA_FEED_ZONE) if modified else None
    occurred = min(modified_at + ATHENA_TIME_PRECISION, read_at) if modified_at else read_at
    # athena's times are to the second, and a record can return to an earlier state: the time and
    # the content together tell one change from another.
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    fingerprint = f"{modified}/{digest}" if modified else digest
    status = to_str(record.get("appointmentstatus"))
    return NotificationEvent(
        event_id=f"{feed}:{resource_id}:{fingerprint}"[:120],
        topic=f"{feed}.changed{':' + status if status else ''}"[:60],
        resource_type=resource_type,
        resource_id=resource_id,
        department_id=to_str(record.get("departmentid") or record.get("primarydepartmentid")),
        occurred_at=occurred,
    )


def _patients_merged(candidates: list[tuple[dict[str, Any], NotificationEvent]]) -> set[str]:
    """The athena ids of the patient records the hub already holds (a few queries in all).

    Held: the hub read the patient from athena after the record's change (its latest EHR report
    is no older than the record), or the record's values are the ones athena last reported.
    """
    athena = {p.patient_id: p for p in (AthenaPatient.from_api(record) for record, _ in candidates)}
    changed_at = {event.resource_id: event.occurred_at for _, event in candidates}
    # Keys only: a patient row's encrypted fields are decrypted only for the few compared by value.
    patients = list(
        Patient.objects.filter(
            practice__athena_practice_id=settings.ATHENA_PRACTICE_ID, athena_patient_id__in=list(athena)
        ).only("pk", "athena_patient_id")
    )
    latest_read = dict(
        ChangeSet.objects.filter(patient__in=patients, source="ehr")
        .values("patient_id")
        .annotate(latest=Max("source_time"))
        .values_list("patient_id", "latest")
    )
    merged = {
        patient.athena_patient_id or ""
        for patient in patients
        if patient.pk in latest_read and latest_read[patient.pk] >= changed_at[patient.athena_patient_id or ""]
    }
    unsure = list(Patient.objects.filter(pk__in=[p.pk for p in patients if p.athena_patient_id not in merged]))
    known: dict[int, dict[str, str]] = {}
    states = FieldState.objects.filter(patient__in=unsure, field__in=SYNCED_PATIENT_FIELDS)
    for patient_id, name, last_ehr in states.values_list("patient_id", "field", "last_ehr"):
        known.setdefault(patient_id, {})[name] = last_ehr
    for patient in unsure:
        record = athena.get(patient.athena_patient_id or "")
        if record and not patient_drift(patient, mapping.patient_fields(record), known.get(patient.pk, {})):
            merged.add(record.patient_id)
    return merged


def _appointment_merged(record: dict[str, Any]) -> bool:
    athena_appointment = AthenaAppointment.from_api(record)
    appointment = Appointment.objects.filter(
        practice__athena_practice_id=settings.ATHENA_PRACTICE_ID,
        athena_appointment_id=athena_appointment.appointment_id,
    ).first()
    return (
        appointment is not None
        and appointment.athena_last_modified is not None
        and athena_appointment.last_modified is not None
        # Only a record no newer than the one the hub read: athena's times are to the second.
        and athena_appointment.last_modified <= appointment.athena_last_modified
        and not appointment_drift(appointment, mapping.appointment_fields(athena_appointment))
    )


def _triage(
    feed: str, records: list[dict[str, Any]], settled_before: frozenset[str] = frozenset()
) -> tuple[list[NotificationEvent], set[str]]:
    """A read's events that need processing, and the ids of those that need nothing: superseded
    by a later record of the same resource in the read, or already held by the hub. Events stored
    already or `settled_before` (by an earlier look at the same records) are in neither."""
    listed: dict[str, tuple[dict[str, Any], NotificationEvent]] = {}
    read_at = timezone.now()
    for record in records:  # athena lists a feed's records oldest first
        if event := _event_for(feed, record, read_at):
            listed.pop(event.event_id, None)  # a record listed twice counts where it was listed last
            listed[event.event_id] = (record, event)
    stored = set(
        InboundEvent.objects.filter(source=InboundEvent.Source.FEED, event_id__in=list(listed)).values_list(
            "event_id", flat=True
        )
    )
    newest = {event.resource_id: event_id for event_id, (_, event) in listed.items()}
    fresh = {
        event_id: pair for event_id, pair in listed.items() if event_id not in stored and event_id not in settled_before
    }
    settled = {event_id for event_id, (_, event) in fresh.items() if newest[event.resource_id] != event_id}
    candidates = {event_id: pair for event_id, pair in fresh.items() if event_id not in settled}
    if feed == "patients":
        merged = _patients_merged(list(candidates.values()))
        known = [event_id for event_id, (_, event) in candidates.items() if event.resource_id in merged]
    else:
        known = [event_id for event_id, (record, _) in candidates.items() if _appointment_merged(record)]
    settled.update(known)
    return [event for event_id, (_, event) in fresh.items() if event_id not in settled], settled


def _store(feed: str, records: list[dict[str, Any]], settled_before: frozenset[str]) -> tuple[int, set[str]]:
    """Store the events of a read that need processing: (how many were new, the ids settled)."""
    events, settled = _triage(feed, records, settled_before)
    return events_store(source=InboundEvent.Source.FEED, events=events), settled


def _ensure_subscribed(client: AthenaClient, feed: str, state: FeedState) -> None:
    if state.subscribed_at is not None:
        return
    if not client.subscription_status(feed).active:
        client.subscribe(feed)
    state.subscribed_at = timezone.now()
    state.save(update_fields=["subscribed_at"])


def _read_pages(client: AthenaClient, feed: str) -> tuple[int, int, int]:
    """Read one feed page by page (peek, store, take, store).

    Returns (records taken, new events stored, records that needed nothing). The take lists what
    the peek saw (and perhaps more since): what the peek settled is not looked at again.
    """
    size = max(1, settings.HUB_FEED_PAGE_SIZE)
    taken_total = stored = settled_total = 0
    for page in range(max(1, settings.HUB_FEED_MAX_PAGES)):
        if page:
            time.sleep(settings.HUB_FEED_PAGE_PAUSE_SECONDS)
        new, settled = _store(feed, client.list_changed(feed, leave_unprocessed=True, limit=size), frozenset())
        taken = client.list_changed(feed, limit=size)
        more, settled_later = _store(feed, taken, frozenset(settled))
        stored += new + more
        settled_total += len(settled | settled_later)
        taken_total += len(taken)
        if len(taken) < size:
            break
    return taken_total, stored, settled_total


def feeds_poll(*, client: AthenaClient) -> int:
    """Read every feed; returns how many new events were stored."""
    stored = 0
    for feed in FEEDS:
        state, _ = FeedState.objects.get_or_create(feed=feed)
        _ensure_subscribed(client, feed, state)
        try:
            taken, new, settled = _read_pages(client, feed)
        except AthenaPermanentError:
            # athena forgot the subscription (403): subscribe again and read next time.
            state.subscribed_at = None
            state.save(update_fields=["subscribed_at"])
            _ensure_subscribed(client, feed, state)
            continue
        state.last_polled_at = timezone.now()
        state.last_record_count, state.last_settled_count = taken, settled
        state.save(update_fields=["last_polled_at", "last_record_count", "last_settled_count"])
        stored += new
    return stored
