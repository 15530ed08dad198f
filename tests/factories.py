"""Builders for test rows. Every patient here is synthetic."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from hub.models import (
    Appointment,
    Department,
    Patient,
    PatientInsurance,
    Practice,
    Provider,
    StaffProfile,
)

_counter = itertools.count(1)


def letters(n: int) -> str:
    """A name-safe suffix for a number (athena names take no digits): 1 → 'b', 27 → 'bb'."""
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[rest] + out
        if n == 0:
            return out


def make_practice(**fields: Any) -> Practice:
    defaults = {"name": "Synthetic Medical Group"}
    practice, _ = Practice.objects.get_or_create(
        athena_practice_id=fields.pop("athena_practice_id", "195900"), defaults={**defaults, **fields}
    )
    return practice


def make_department(practice: Practice | None = None, **fields: Any) -> Department:
    n = next(_counter)
    values = {
        "practice": practice or make_practice(),
        "athena_department_id": str(1000 + n),
        "name": f"Test Clinic {n}",
        "timezone": "America/New_York",
    }
    values.update(fields)
    return Department.objects.create(**values)


def make_provider(department: Department, **fields: Any) -> Provider:
    n = next(_counter)
    values = {
        "practice": department.practice,
        "athena_provider_id": str(500 + n),
        "first_name": "Test",
        "last_name": f"Provider{n}",
        "npi": "1999999984",
    }
    values.update(fields)
    provider = Provider.objects.create(**values)
    provider.departments.add(department)
    return provider


def make_patient(department: Department, **fields: Any) -> Patient:
    n = next(_counter)
    values = {
        "practice": department.practice,
        "department": department,
        "athena_patient_id": str(90000 + n),
        "first_name": f"Testfirst{letters(n)}",
        "last_name": f"Synthetic{letters(n)}",
        "dob": dt.date(1980, 1, 1) + dt.timedelta(days=n),
        "sex": "F",
        "email": f"patient{n}@example.test",
        "mobile_phone": f"555010{n % 10000:04d}",
    }
    values.update(fields)
    return Patient.objects.create(**values)


def make_insurance(patient: Patient, **fields: Any) -> PatientInsurance:
    values = {
        "patient": patient,
        "payer_name": "EXAMPLE HEALTH PLAN",
        "member_id": "ZZX123456789",
        "group_number": "GRP00042",
        "sequence_number": 1,
    }
    values.update(fields)
    return PatientInsurance.objects.create(**values)


def make_appointment(department: Department, **fields: Any) -> Appointment:
    n = next(_counter)
    values = {
        "practice": department.practice,
        "department": department,
        "athena_appointment_id": str(700000 + n),
        "date": dt.date(2026, 12, 1),
        "start_time": dt.time(9, 0),
        "duration_minutes": 15,
        "status": Appointment.Status.FUTURE,
    }
    values.update(fields)
    return Appointment.objects.create(**values)


def make_staff(
    username: str, *, role: str, departments: list[Department] | None = None, all_locations: bool = False
) -> Any:
    user = get_user_model().objects.create_user(username=username, password="correct-horse-battery", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    profile = StaffProfile.objects.create(user=user, all_locations=all_locations)
    if departments:
        profile.departments.set(departments)
    return user
