"""Exactly once under fire: 500 portal submissions with 20% of athena calls faulted, every kind.

Counts come from the sandbox's own records, never from the hub's view of itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from hub.athena import build_athena_client
from hub.integrations.athena.errors import AthenaError
from intake.models import Submission
from intake.services import submission_status
from sync.models import WriteIntent
from sync.services import intents_run_due
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import letters, make_department, make_practice

pytestmark = pytest.mark.django_db
FAULT_KINDS = {"error_before": 1, "error_after": 1, "hang_after": 1, "drop_after": 1, "rate_limited": 1, "slow": 1}
REGISTRATIONS, INSURANCES, BOOKINGS = 250, 150, 100


def open_slots(count: int) -> list[Any]:
    """Distinct open slots across the Boston clinic's appointment types (reads retried on faults)."""
    client = build_athena_client()
    today = dt.date.today()  # noqa: DTZ011 - the sandbox schedules in local dates
    slots: dict[str, Any] = {}
    for kind in client.list_appointment_types():
        for attempt in itertools.count():
            try:
                found = client.list_open_slots(
                    department_id="1",
                    start_date=today,
                    end_date=today + dt.timedelta(days=28),
                    appointment_type_id=kind.appointment_type_id,
                )
                break
            except AthenaError:
                assert attempt < 10
        slots.update({slot.appointment_id: slot for slot in found})
        if len(slots) >= count:
            break
    assert len(slots) >= count, "the sandbox has too few open slots for the suite"
    return list(slots.values())[:count]


def drain_everything() -> None:
    for _ in range(60):
        intents_run_due(client=build_athena_client(), budget_seconds=20)
        if not WriteIntent.objects.exclude(state__in=["succeeded", "failed", "parked"]).exists():
            return
    raise AssertionError("intents still open after draining")


def test_500_submissions_under_faults_make_no_duplicates_and_all_finish(sandbox: Sandbox, settings: Any) -> None:
    settings.ATHENA_READ_TIMEOUT = 0.3
    settings.HUB_AMBIGUOUS_SETTLE_SECONDS = 0.6
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal: Portal = make_portal("fault-suite", locations=["1"])
    slots = open_slots(BOOKINGS)
    sandbox.configure(faults={"rate": 0.2, "kinds": FAULT_KINDS, "hang_seconds": 0.45, "slow_seconds": 0.45})

    patients = []
    for n in range(REGISTRATIONS):
        body = registration(last_name=f"Faultsuite{letters(n)}", email=f"fault{n}@example.test")
        response = portal.post("/api/v1/patients", body)
        assert response.status_code == 202
        patients.append(response.json()["patient_id"])
    for n, patient_id in enumerate(patients[:INSURANCES]):
        insurance = {
            "payer_name": "EXAMPLE HEALTH PLAN",
            "member_id": f"EXH{700000000 + n}",
            "insurance_package_id": "1001",
        }
        assert portal.post(f"/api/v1/patients/{patient_id}/insurances", insurance).status_code == 202
    for patient_id, slot in zip(patients[-BOOKINGS:], slots, strict=True):
        booking = {
            "patient_id": patient_id,
            "slot_id": slot.appointment_id,
            "location_id": "1",
            "appointment_type_id": slot.appointment_type_id,
        }
        assert portal.post("/api/v1/appointments", booking).status_code == 202
    assert Submission.objects.count() == REGISTRATIONS + INSURANCES + BOOKINGS

    drain_everything()

    log = sandbox.requests(system="athena")
    assert sum(1 for entry in log if entry["fault"]) > 100  # the faults really happened
    patients_seen = sandbox.records("patients", created_via="api")
    insurances_seen = sandbox.records("insurances", created_via="api")
    bookings_seen = sandbox.records("appointments", booked="true")
    assert patients_seen["duplicates"] == []
    assert insurances_seen["duplicates"] == []
    assert bookings_seen["slots_booked_more_than_once"] == []
    ours = {str(p["patientid"]) for p in patients_seen["patients"]}
    assert [b for b in bookings_seen["patient_double_bookings"] if str(b["patientid"]) in ours] == []
    assert len([b for b in bookings_seen["bookings"] if str(b.get("patientid")) in ours]) == BOOKINGS
    assert patients_seen["created"]["api"] == REGISTRATIONS  # nothing lost either
    assert len(insurances_seen["insurances"]) == INSURANCES
    statuses = {submission_status(s) for s in Submission.objects.prefetch_related("intents")}
    assert statuses <= {"completed", "failed", "needs_attention"}
    assert WriteIntent.objects.filter(state="succeeded").count() == REGISTRATIONS + INSURANCES + BOOKINGS
