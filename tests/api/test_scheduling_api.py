"""Scheduling through the portal API against the sandbox: slots, booking, rescheduling, check-in, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from hub.athena import build_athena_client
from hub.models import Appointment, Patient
from sync.models import PortalEvent, WriteIntent
from sync.portal_events import portal_event_emit
from sync.services import intents_run_due
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import make_appointment, make_department, make_patient, make_practice

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture
def clinics(sandbox: Sandbox) -> dict[str, Any]:
    practice = make_practice()
    return {
        "boston": make_department(practice, athena_department_id="1", name="Harbor Family Medicine"),
        "austin": make_department(practice, athena_department_id="157", name="Lone Star Clinic"),
    }


@pytest.fixture
def portal(clinics: dict[str, Any]) -> Portal:
    return make_portal("scheduling-portal", locations=["1"])


def a_kind() -> str:
    return build_athena_client().list_appointment_types()[0].appointment_type_id


def registered(portal: Portal) -> Patient:
    response = portal.post("/api/v1/patients", registration(last_name="Schedulecheck"))
    intents_run_due(client=build_athena_client(), budget_seconds=10)
    return Patient.objects.get(public_id=response.json()["patient_id"])


def test_open_slots_for_a_granted_location(portal: Portal) -> None:
    kind = a_kind()
    today = timezone.localdate()
    response = portal.get(
        "/api/v1/slots",
        location_id="1",
        appointment_type_id=kind,
        start=today.isoformat(),
        end=(today + dt.timedelta(days=14)).isoformat(),
    )
    assert response.status_code == 200
    slots = response.json()
    assert slots and all(slot["location_id"] == "1" for slot in slots)
    assert {"slot_id", "provider_id", "date", "start_time", "duration_minutes"} <= set(slots[0])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"location_id": "1"}, "reason_id"),  # athena needs a reason or an appointment type
        ({"location_id": "1", "reason_id": "962"}, "provider_id"),  # a specific reason needs a provider
        ({"location_id": "1", "appointment_type_id": "2", "start": "2026-12-10", "end": "2026-12-01"}, "end"),
        ({"location_id": "1", "appointment_type_id": "2", "start": "2026-12-01", "end": "2027-03-01"}, "end"),
        ({"location_id": "1", "appointment_type_id": "two"}, "appointment_type_id"),
    ],
)
def test_slot_queries_that_athena_would_refuse_are_400_naming_the_field(
    portal: Portal, params: dict[str, str], field: str
) -> None:
    response = portal.get("/api/v1/slots", **params)
    assert response.status_code == 400 and response["Content-Type"].startswith(PROBLEM)
    assert field in response.json()["errors"]


def test_slots_of_another_location_do_not_exist_for_this_client(portal: Portal) -> None:
    response = portal.get("/api/v1/slots", location_id="157", appointment_type_id="2")
    assert response.status_code == 404 and response.json()["code"] == "location-not-found"


def test_slots_need_a_token_with_read_scope(clinics: dict[str, Any]) -> None:
    writer = make_portal("writer-only", locations=["1"], scopes=["appointments:write"])
    assert writer.get("/api/v1/slots", location_id="1", appointment_type_id="2").status_code == 403


def test_booking_a_taken_slot_is_refused_at_once(portal: Portal, sandbox: Sandbox) -> None:
    patient = registered(portal)
    today = timezone.localdate()
    slot = build_athena_client().list_open_slots(
        department_id="1", start_date=today, end_date=today + dt.timedelta(days=14), appointment_type_id=a_kind()
    )[0]
    other = next(build_athena_client().search_patients(department_id="1"))
    sandbox.edit(
        {
            "type": "appointment.book",
            "appointmentid": slot.appointment_id,
            "patientid": other.patient_id,
            "appointmenttypeid": slot.appointment_type_id,
        }
    )
    response = portal.post(
        "/api/v1/appointments",
        {
            "patient_id": str(patient.public_id),
            "slot_id": slot.appointment_id,
            "location_id": "1",
            "appointment_type_id": slot.appointment_type_id,
        },
    )
    assert response.status_code == 409 and response.json()["code"] == "slot-unavailable"
    assert not WriteIntent.objects.filter(operation="book_appointment").exists()


def test_booking_a_slot_of_another_location_is_404(portal: Portal, clinics: dict[str, Any]) -> None:
    patient = registered(portal)
    today = timezone.localdate()
    austin_slot = build_athena_client().list_open_slots(
        department_id="157", start_date=today, end_date=today + dt.timedelta(days=14), appointment_type_id=a_kind()
    )[0]
    for location in ("1", "157"):  # claiming the slot is in Boston, or naming Austin outright
        response = portal.post(
            "/api/v1/appointments",
            {
                "patient_id": str(patient.public_id),
                "slot_id": austin_slot.appointment_id,
                "location_id": location,
                "appointment_type_id": austin_slot.appointment_type_id,
            },
        )
        assert response.status_code == 404


def test_reschedule_moves_the_appointment_in_athena(portal: Portal) -> None:
    patient = registered(portal)
    today = timezone.localdate()
    first, second = build_athena_client().list_open_slots(
        department_id="1", start_date=today, end_date=today + dt.timedelta(days=14), appointment_type_id=a_kind()
    )[:2]
    portal.post(
        "/api/v1/appointments",
        {
            "patient_id": str(patient.public_id),
            "slot_id": first.appointment_id,
            "location_id": "1",
            "appointment_type_id": first.appointment_type_id,
        },
    )
    intents_run_due(client=build_athena_client(), budget_seconds=10)
    response = portal.post(
        f"/api/v1/appointments/{first.appointment_id}/reschedule",
        {"new_slot_id": second.appointment_id, "reason": "work"},
    )
    assert response.status_code == 202
    intents_run_due(client=build_athena_client(), budget_seconds=10)
    client = build_athena_client()
    assert client.get_appointment(first.appointment_id).status == "x"
    moved = client.get_appointment(second.appointment_id)
    assert moved.status == "f" and moved.patient_id == patient.athena_patient_id
    assert Appointment.objects.get(athena_appointment_id=first.appointment_id).status == "x"
    bad = portal.post(f"/api/v1/appointments/{second.appointment_id}/reschedule", {"new_slot_id": "not-a-slot"})
    assert bad.status_code == 400 and "new_slot_id" in bad.json()["errors"]


def test_check_in_opens_on_the_day_of_the_visit(portal: Portal, clinics: dict[str, Any], sandbox: Sandbox) -> None:
    patient = registered(portal)
    boston = clinics["boston"]
    local_today = timezone.localtime(timezone.now(), boston.tzinfo).date()
    later = make_appointment(boston, patient=patient, date=local_today + dt.timedelta(days=3))
    response = portal.post(f"/api/v1/appointments/{later.athena_appointment_id}/check-in", {})
    assert response.status_code == 409 and response.json()["code"] == "appointment-not-today"

    slot = build_athena_client().list_open_slots(
        department_id="1",
        start_date=local_today,
        end_date=local_today + dt.timedelta(days=14),
        appointment_type_id=a_kind(),
        bypass_schedule_checks=True,
    )[0]
    build_athena_client().book_appointment(
        slot.appointment_id, patient_id=patient.athena_patient_id, appointment_type_id=slot.appointment_type_id
    )
    today_visit = make_appointment(boston, patient=patient, athena_appointment_id=slot.appointment_id, date=local_today)
    assert portal.post(f"/api/v1/appointments/{today_visit.athena_appointment_id}/check-in", {}).status_code == 202
    intents_run_due(client=build_athena_client(), budget_seconds=10)
    assert build_athena_client().get_appointment(slot.appointment_id).status == "2"
    today_visit.refresh_from_db()
    assert today_visit.status == "2"


def test_events_backfill_pages_through_a_cursor_and_only_shows_granted_locations(
    portal: Portal, clinics: dict[str, Any]
) -> None:
    mine = make_patient(clinics["boston"])
    theirs = make_patient(clinics["austin"])
    for n in range(5):
        portal_event_emit(type="patient.updated", department=clinics["boston"], patient=mine, data={"n": n})
    portal_event_emit(type="patient.updated", department=clinics["austin"], patient=theirs, data={})
    first = portal.get("/api/v1/events", limit=3).json()
    assert [e["data"]["n"] for e in first["events"]] == [0, 1, 2] and first["has_more"]
    rest = portal.get("/api/v1/events", after=first["next_cursor"], limit=3).json()
    assert [e["data"]["n"] for e in rest["events"]] == [3, 4] and not rest["has_more"]
    assert all(e["data"]["location_id"] == "1" for e in first["events"] + rest["events"])
    empty = portal.get("/api/v1/events", after=rest["next_cursor"]).json()
    assert empty == {"events": [], "next_cursor": rest["next_cursor"], "has_more": False}
    assert portal.get("/api/v1/events", after=-1).status_code == 400
    assert PortalEvent.objects.filter(department=clinics["austin"]).exists()


SLOTS_ROUTE = "/v1/{practiceid}/appointments/open"


def slot_search(portal: Portal, kind: str) -> list[dict[str, Any]]:
    today = timezone.localdate()
    response = portal.get(
        "/api/v1/slots",
        location_id="1",
        appointment_type_id=kind,
        start=today.isoformat(),
        end=(today + dt.timedelta(days=14)).isoformat(),
    )
    assert response.status_code == 200
    return list(response.json())


def test_a_repeated_slot_search_is_answered_without_asking_athena_again(
    portal: Portal, sandbox: Sandbox, settings: Any
) -> None:
    settings.HUB_SLOT_CACHE_SECONDS = 60
    kind = a_kind()
    first = slot_search(portal, kind)
    second = slot_search(portal, kind)
    assert first and second == first
    assert len(sandbox.requests(route=SLOTS_ROUTE)) == 1


def test_an_appointment_change_at_the_location_forgets_its_cached_slots(
    portal: Portal, sandbox: Sandbox, settings: Any, clinics: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    settings.HUB_SLOT_CACHE_SECONDS = 60
    kind = a_kind()
    before = slot_search(portal, kind)
    taken = before[0]
    other = next(build_athena_client().search_patients(department_id="1"))
    sandbox.edit(
        {
            "type": "appointment.book",
            "appointmentid": taken["slot_id"],
            "patientid": other.patient_id,
            "appointmenttypeid": taken["appointment_type_id"],
        }
    )
    assert slot_search(portal, kind) == before  # the hub has not heard of the booking yet

    with django_capture_on_commit_callbacks(execute=True):
        make_appointment(
            clinics["boston"], patient=make_patient(clinics["boston"]), athena_appointment_id=taken["slot_id"]
        )
    after = slot_search(portal, kind)
    assert taken["slot_id"] not in {slot["slot_id"] for slot in after}
    assert len(sandbox.requests(route=SLOTS_ROUTE)) == 2


def test_with_the_slot_cache_off_every_search_asks_athena(portal: Portal, sandbox: Sandbox, settings: Any) -> None:
    settings.HUB_SLOT_CACHE_SECONDS = 0
    kind = a_kind()
    slot_search(portal, kind)
    slot_search(portal, kind)
    assert len(sandbox.requests(route=SLOTS_ROUTE)) == 2
