"""Pulling athena's data into the hub, as a real deployment starts: reference data, patients with
their insurances, upcoming appointments. Paginated, rate-limited (by the client), idempotent
(upserts keyed on athena ids) and resumable (finished stages and departments are recorded).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub.golden import golden_merge
from hub.integrations.athena.client import AthenaClient
from hub.models import (
    Appointment,
    AppointmentReason,
    AppointmentType,
    Department,
    InsurancePackage,
    Patient,
    PatientInsurance,
    Practice,
    Provider,
)
from sync import mapping
from sync.inbound import patient_changes
from sync.models import ImportRun

logger = logging.getLogger(__name__)

STAGES = (
    "departments",
    "providers",
    "appointment_types",
    "reasons",
    "insurance_packages",
    "patients",
    "appointments",
)
APPOINTMENT_DAYS_AHEAD = 60

Progress = Callable[[str], None]


def _count(run: ImportRun, key: str, amount: int = 1) -> None:
    run.counts[key] = run.counts.get(key, 0) + amount


def _mark_stage(run: ImportRun, stage: str) -> None:
    run.stages_done = [*run.stages_done, stage]
    run.save(update_fields=["stages_done", "counts"])


def _mark_department(run: ImportRun, stage: str, department_id: str) -> None:
    done = dict(run.departments_done)
    done[stage] = [*done.get(stage, []), department_id]
    run.departments_done = done
    run.save(update_fields=["departments_done", "counts"])


def import_departments(client: AthenaClient, practice: Practice, run: ImportRun) -> None:
    for department in client.list_departments():
        Department.objects.update_or_create(
            practice=practice,
            athena_department_id=department.department_id,
            defaults=mapping.department_fields(department),
        )
        _count(run, "departments")


def import_providers(client: AthenaClient, practice: Practice, run: ImportRun) -> None:
    departments = {d.athena_department_id: d for d in Department.objects.filter(practice=practice)}
    works_at: dict[str, list[Department]] = {}
    for athena_department in client.list_departments():
        for provider_id in athena_department.provider_ids:
            if athena_department.department_id in departments:
                works_at.setdefault(provider_id, []).append(departments[athena_department.department_id])
    for provider in client.list_providers():
        row, _ = Provider.objects.update_or_create(
            practice=practice,
            athena_provider_id=provider.provider_id,
            defaults={
                "first_name": provider.first_name,
                "last_name": provider.last_name,
                "display_name": provider.display_name,
                "npi": provider.npi,
                "specialty": provider.specialty,
            },
        )
        listed = [departments[d] for d in provider.department_ids if d in departments]
        row.departments.set(listed or works_at.get(provider.provider_id, []))
        _count(run, "providers")


def import_appointment_types(client: AthenaClient, practice: Practice, run: ImportRun) -> None:
    for kind in client.list_appointment_types():
        AppointmentType.objects.update_or_create(
            practice=practice,
            athena_appointment_type_id=kind.appointment_type_id,
            defaults={
                "name": kind.name,
                "short_name": kind.short_name[:20],
                "duration_minutes": kind.duration_minutes,
                "is_patient_facing": kind.is_patient_facing,
            },
        )
        _count(run, "appointment_types")


def import_insurance_packages(client: AthenaClient, practice: Practice, run: ImportRun) -> None:
    for package in client.list_insurance_packages():
        InsurancePackage.objects.update_or_create(
            practice=practice,
            athena_insurance_package_id=package.insurance_package_id,
            defaults={
                "name": package.name[:120],
                "payer_name": package.payer_name[:120],
                "payer_id": package.payer_id[:20],
                "insurance_type": package.insurance_type[:40],
            },
        )
        _count(run, "insurance_packages")


def import_reasons(client: AthenaClient, practice: Practice, run: ImportRun, progress: Progress) -> None:
    done = set(run.departments_done.get("reasons", []))
    for department in Department.objects.filter(practice=practice).order_by("athena_department_id"):
        if department.athena_department_id in done:
            continue
        for reason in client.list_appointment_reasons(department_id=department.athena_department_id):
            row, _ = AppointmentReason.objects.update_or_create(
                practice=practice,
                athena_reason_id=reason.reason_id,
                defaults={
                    "name": reason.name[:100],
                    "description": reason.description[:200],
                    "reason_type": reason.reason_type if reason.reason_type in ("new", "existing") else "all",
                    "scheduling_min_hours": reason.scheduling_min_hours,
                    "scheduling_max_days": reason.scheduling_max_days,
                },
            )
            row.departments.add(department)
        _count(run, "reason_departments")
        _mark_department(run, "reasons", department.athena_department_id)
        progress(f"reasons: {department.athena_department_id} done")


def _upsert_patient(client: AthenaClient, practice: Practice, department: Department, athena_patient: Any) -> Patient:
    departments = {department.athena_department_id: department}
    home = athena_patient.department_id
    if home and home not in departments:
        found = Department.objects.filter(practice=practice, athena_department_id=home).first()
        if found:
            departments[home] = found
    patient = Patient.objects.filter(practice=practice, athena_patient_id=athena_patient.patient_id).first()
    if patient is None:
        fields = mapping.patient_fields(athena_patient)
        patient = Patient.objects.create(
            practice=practice,
            athena_patient_id=athena_patient.patient_id,
            department=departments.get(home, department),
            **fields,
        )
    # athena's values enter the golden record as the EHR's report (a re-run adds nothing new).
    golden_merge(
        patient=patient,
        changes=patient_changes(athena_patient, time=athena_patient.last_modified or timezone.now(), event_id="import"),
    )
    return patient


def import_patients(
    client: AthenaClient, practice: Practice, run: ImportRun, progress: Progress, since: dt.date | None
) -> None:
    done = set(run.departments_done.get("patients", []))
    for department in Department.objects.filter(practice=practice).order_by("athena_department_id"):
        if department.athena_department_id in done:
            continue
        for athena_patient in client.search_patients(department_id=department.athena_department_id):
            if since and athena_patient.last_modified and athena_patient.last_modified.date() < since:
                continue
            insurances = client.list_insurances(athena_patient.patient_id, show_cancelled=True)
            with transaction.atomic():
                patient = _upsert_patient(client, practice, department, athena_patient)
                for insurance in insurances:
                    PatientInsurance.objects.update_or_create(
                        patient=patient,
                        athena_insurance_id=insurance.insurance_id,
                        defaults=mapping.insurance_fields(insurance),
                    )
            _count(run, "patients")
            _count(run, "insurances", len(insurances))
        _mark_department(run, "patients", department.athena_department_id)
        progress(f"patients: {department.athena_department_id} done")


def import_appointments(
    client: AthenaClient, practice: Practice, run: ImportRun, progress: Progress, since: dt.date | None
) -> None:
    done = set(run.departments_done.get("appointments", []))
    today = timezone.localdate()
    start = since or today
    providers = {p.athena_provider_id: p for p in Provider.objects.filter(practice=practice)}
    kinds = {k.athena_appointment_type_id: k for k in AppointmentType.objects.filter(practice=practice)}
    for department in Department.objects.filter(practice=practice).order_by("athena_department_id"):
        if department.athena_department_id in done:
            continue
        booked = client.list_booked_appointments(
            department_ids=[department.athena_department_id],
            start_date=start,
            end_date=today + dt.timedelta(days=APPOINTMENT_DAYS_AHEAD),
            show_cancelled=True,
        )
        for appointment in booked:
            patient = None
            if appointment.patient_id:
                patient = Patient.objects.filter(practice=practice, athena_patient_id=appointment.patient_id).first()
                if patient is None:
                    patient = _upsert_patient(client, practice, department, client.get_patient(appointment.patient_id))
            fields = mapping.appointment_fields(appointment)
            fields.update(
                department=department,
                provider=providers.get(appointment.provider_id),
                appointment_type=kinds.get(appointment.appointment_type_id),
                patient=patient,
            )
            Appointment.objects.update_or_create(
                practice=practice, athena_appointment_id=appointment.appointment_id, defaults=fields
            )
            _count(run, "appointments")
        _mark_department(run, "appointments", department.athena_department_id)
        progress(f"appointments: {department.athena_department_id} done")


def athena_import_run(
    *, client: AthenaClient, practice_id: str, since: dt.date | None = None, progress: Progress | None = None
) -> ImportRun:
    """Import (or resume importing) everything the hub mirrors from athena."""
    say = progress or (lambda message: None)
    practice, _ = Practice.objects.get_or_create(
        athena_practice_id=practice_id, defaults={"name": f"Practice {practice_id}"}
    )
    run = ImportRun.objects.filter(finished_at__isnull=True, since=since).order_by("-started_at").first()
    if run is None:
        run = ImportRun.objects.create(since=since)
    else:
        say(f"resuming import #{run.pk} after: {', '.join(run.stages_done) or 'nothing'}")
    steps: dict[str, Callable[[], None]] = {
        "departments": lambda: import_departments(client, practice, run),
        "providers": lambda: import_providers(client, practice, run),
        "appointment_types": lambda: import_appointment_types(client, practice, run),
        "reasons": lambda: import_reasons(client, practice, run, say),
        "insurance_packages": lambda: import_insurance_packages(client, practice, run),
        "patients": lambda: import_patients(client, practice, run, say, since),
        "appointments": lambda: import_appointments(client, practice, run, say, since),
    }
    for stage in STAGES:
        if stage in run.stages_done:
            continue
        steps[stage]()
        _mark_stage(run, stage)
        say(f"{stage} done")
    run.finished_at = timezone.now()
    run.save(update_fields=["finished_at", "counts"])
    return run
