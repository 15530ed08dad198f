"""Reconciliation: compare the hub's view of a location with athena's and repair any drift.

Drift means athena holds something the hub never heard about: a patient or appointment the hub
lacks, or a value different from the last one athena reported to the hub. Repair feeds each
drifted record through the normal inbound pipeline (as a `reconcile` event), so the golden-record
policy, conflicts and portal events apply exactly as for a webhook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from hub.integrations.athena.client import AthenaClient
from hub.models import Appointment, Department, FieldState, Patient
from sync import mapping
from sync.inbound import SYNCED_PATIENT_FIELDS, NotificationEvent, events_store
from sync.models import InboundEvent


@dataclass
class LocationReport:
    location_id: str
    patients_checked: int = 0
    patients_missing: list[str] = field(default_factory=list)
    patients_drifted: dict[str, list[str]] = field(default_factory=dict)
    appointments_checked: int = 0
    appointments_missing: list[str] = field(default_factory=list)
    appointments_drifted: dict[str, list[str]] = field(default_factory=dict)
    repaired: int = 0

    @property
    def drift(self) -> int:
        return (
            len(self.patients_missing)
            + len(self.patients_drifted)
            + len(self.appointments_missing)
            + len(self.appointments_drifted)
        )

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "drift": self.drift}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def patient_drift(patient: Patient, athena_values: dict[str, Any], last_ehr: dict[str, str] | None = None) -> list[str]:
    """The synced fields whose athena value differs from the last one athena reported to the hub.

    `last_ehr` (field → stored last EHR value) spares the query when the caller read it already.
    """
    if last_ehr is None:
        last_ehr = dict(
            FieldState.objects.filter(patient=patient, field__in=SYNCED_PATIENT_FIELDS).values_list("field", "last_ehr")
        )
    known = {name: json.loads(value) if value else None for name, value in last_ehr.items()}
    drifted = []
    for name in SYNCED_PATIENT_FIELDS:
        seen = known[name] if name in known else _json(getattr(patient, name))
        if _json(athena_values.get(name)) != seen:
            drifted.append(name)
    return drifted


def appointment_drift(appointment: Appointment, athena_values: dict[str, Any]) -> list[str]:
    """The portal-visible appointment fields whose athena value differs from the hub's."""
    return [
        name
        for name in ("status", "date", "start_time", "duration_minutes")
        if getattr(appointment, name) != athena_values[name]
    ]


def reconcile_location(
    *, client: AthenaClient, department: Department, days_ahead: int = 30, repair: bool = False
) -> LocationReport:
    """Compare one location's patients and upcoming appointments with athena."""
    report = LocationReport(location_id=department.athena_department_id)
    events: list[NotificationEvent] = []
    now = timezone.now()
    for athena_patient in client.search_patients(department_id=department.athena_department_id):
        report.patients_checked += 1
        values = mapping.patient_fields(athena_patient)
        patient = Patient.objects.filter(
            practice=department.practice, athena_patient_id=athena_patient.patient_id
        ).first()
        if patient is None:
            report.patients_missing.append(athena_patient.patient_id)
        else:
            drifted = patient_drift(patient, values)
            if not drifted:
                continue
            report.patients_drifted[athena_patient.patient_id] = drifted
        events.append(
            NotificationEvent(
                event_id=f"reconcile:patient:{athena_patient.patient_id}:{_digest(values)}",
                topic="Patient.reconcile",
                resource_type="patient",
                resource_id=athena_patient.patient_id,
                department_id=department.athena_department_id,
                occurred_at=now,
            )
        )
    today = timezone.localdate()
    booked = client.list_booked_appointments(
        department_ids=[department.athena_department_id],
        start_date=today,
        end_date=today + dt.timedelta(days=days_ahead),
        show_cancelled=True,
    )
    for athena_appointment in booked:
        report.appointments_checked += 1
        values = mapping.appointment_fields(athena_appointment)
        appointment = Appointment.objects.filter(
            practice=department.practice, athena_appointment_id=athena_appointment.appointment_id
        ).first()
        if appointment is None:
            report.appointments_missing.append(athena_appointment.appointment_id)
        else:
            drifted = appointment_drift(appointment, values)
            if not drifted:
                continue
            report.appointments_drifted[athena_appointment.appointment_id] = drifted
        events.append(
            NotificationEvent(
                event_id=f"reconcile:appointment:{athena_appointment.appointment_id}:{_digest(values)}",
                topic="Appointment.reconcile",
                resource_type="appointment",
                resource_id=athena_appointment.appointment_id,
                department_id=department.athena_department_id,
                occurred_at=now,
            )
        )
    if repair and events:
        report.repaired = events_store(source=InboundEvent.Source.RECONCILE, events=events)
    return report
