"""The write-intent ledger against the sandbox: every operation, faults, reconciliation, parking."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from hub.athena import build_athena_client
from hub.models import Patient, PatientInsurance
from intake.models import Submission
from intake.services import submission_status
from sync import ledger
from sync.models import PortalEvent, WriteIntent
from sync.services import intent_retry, intents_run_due
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import letters, make_department, make_practice

pytestmark = pytest.mark.django_db
_names = itertools.count(1)


@pytest.fixture
def boston(sandbox: Sandbox) -> Any:
    return make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")


@pytest.fixture
def portal(boston: Any) -> Portal:
    return make_portal("ledger-portal", locations=["1"])


def drain() -> int:
    return intents_run_due(client=build_athena_client(), budget_seconds=30)


def register(portal: Portal, **overrides: Any) -> dict[str, Any]:
    body = registration(last_name=f"Ledgercheck{letters(next(_names))}", **overrides)
    response = portal.post("/api/v1/patients", body)
    assert response.status_code == 202, response.content
    return response.json()


def sandbox_patients(sandbox: Sandbox, last_name: str) -> list[dict[str, Any]]:
    body = sandbox.records("patients", full="true", created_via="api")
    return [p for p in body["patients"] if p.get("lastname") == last_name]


def open_slot(department_id: str = "1", skip: int = 0) -> Any:
    client = build_athena_client()
    today = dt.date.today()  # noqa: DTZ011 - the sandbox schedules in local dates
    for kind in client.list_appointment_types():
        slots = client.list_open_slots(
            department_id=department_id,
            start_date=today,
            end_date=today + dt.timedelta(days=20),
            appointment_type_id=kind.appointment_type_id,
        )
        if len(slots) > skip:
            return slots[skip]
    raise AssertionError("no open slot")


def test_registration_creates_exactly_one_chart_and_tells_the_portal(portal: Portal, sandbox: Sandbox) -> None:
    submission = register(portal)
    drain()
    patient = Patient.objects.get(public_id=submission["patient_id"])
    assert patient.athena_patient_id
    charts = sandbox_patients(sandbox, patient.last_name)
    assert [str(c["patientid"]) for c in charts] == [patient.athena_patient_id]
    status = portal.get(f"/api/v1/submissions/{submission['id']}").json()
    assert status["status"] == "completed"
    assert status["intents"][0]["result"]["patientid"] == patient.athena_patient_id
    event = PortalEvent.objects.get(type="submission.completed")
    assert event.data["submission_id"] == submission["id"] and "first_name" not in str(event.data)


@pytest.mark.parametrize("kind", ["drop_after", "hang_after", "error_after", "error_before", "slow"])
def test_an_ambiguous_registration_is_reconciled_not_resent(portal: Portal, sandbox: Sandbox, kind: str) -> None:
    sandbox.configure(
        faults={"rules": [{"method": "POST", "route": "/v1/{practiceid}/patients", "kind": kind, "count": 1}]}
    )
    submission = register(portal)
    drain()
    intent = WriteIntent.objects.get(operation="create_patient")
    assert intent.state == "succeeded"
    patient = Patient.objects.get(public_id=submission["patient_id"])
    assert len(sandbox_patients(sandbox, patient.last_name)) == 1
    posts = sandbox.requests(route="/v1/{practiceid}/patients", method="POST")
    # A write that happened is found by best match, never sent again; one that did not is sent once more.
    wrote = posts[0]["wrote"]
    assert len(posts) == (1 if wrote else 2)
    assert intent.reconciled is bool(wrote)
    assert sandbox.requests(route="/v1/{practiceid}/patients/enhancedbestmatch")


def test_insurance_after_a_dropped_connection_exists_once(portal: Portal, sandbox: Sandbox, boston: Any) -> None:
    patient_id = register(portal)["patient_id"]
    body = {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "EXH900100200", "insurance_package_id": "1001"}
    route = "/v1/{practiceid}/patients/{patientid}/insurances"
    sandbox.configure(faults={"rules": [{"method": "POST", "route": route, "kind": "drop_after", "count": 1}]})
    assert portal.post(f"/api/v1/patients/{patient_id}/insurances", body).status_code == 202
    drain()
    patient = Patient.objects.get(public_id=patient_id)
    insurance = PatientInsurance.objects.get(patient=patient)
    assert insurance.athena_insurance_id
    records = sandbox.records("insurances", patientid=patient.athena_patient_id)
    assert [str(i["insuranceid"]) for i in records["insurances"]] == [insurance.athena_insurance_id]
    assert records["duplicates"] == []


def test_booking_cancel_and_check_in_reach_athena_once_each(portal: Portal, sandbox: Sandbox) -> None:
    patient_id = register(portal)["patient_id"]
    slot = open_slot()
    route = "/v1/{practiceid}/appointments/{appointmentid}"
    sandbox.configure(faults={"rules": [{"method": "PUT", "route": route, "kind": "hang_after", "count": 1}]})
    booking = {
        "patient_id": patient_id,
        "slot_id": slot.appointment_id,
        "location_id": "1",
        "appointment_type_id": slot.appointment_type_id,
    }
    assert portal.post("/api/v1/appointments", booking).status_code == 202
    # The same booking under another Idempotency-Key is the same intent, not a second booking.
    assert portal.post("/api/v1/appointments", booking).json()["intents"][0]["operation"] == "book_appointment"
    assert WriteIntent.objects.filter(operation="book_appointment").count() == 1
    drain()
    book = WriteIntent.objects.get(operation="book_appointment")
    assert book.state == "succeeded" and book.reconciled
    appointments = sandbox.records("appointments", booked="true")
    assert appointments["slots_booked_more_than_once"] == []
    patient = Patient.objects.get(public_id=patient_id)
    assert client_status(slot.appointment_id) == ("f", patient.athena_patient_id)

    assert portal.post(f"/api/v1/appointments/{slot.appointment_id}/cancel", {"reason": "conflict"}).status_code == 202
    drain()
    assert client_status(slot.appointment_id)[0] == "x"
    assert len(sandbox.requests(route="/v1/{practiceid}/appointments/{appointmentid}/cancel")) == 1


def client_status(appointment_id: str) -> tuple[str, str]:
    appointment = build_athena_client().get_appointment(appointment_id)
    return appointment.status, appointment.patient_id


def test_a_slot_taken_by_someone_else_fails_the_booking_with_a_reason(portal: Portal, sandbox: Sandbox) -> None:
    patient_id = register(portal)["patient_id"]
    slot = open_slot(skip=3)
    booking = {
        "patient_id": patient_id,
        "slot_id": slot.appointment_id,
        "location_id": "1",
        "appointment_type_id": slot.appointment_type_id,
    }
    submission = portal.post("/api/v1/appointments", booking).json()
    other = next(build_athena_client().search_patients(department_id="1"))
    sandbox.edit(
        {
            "type": "appointment.book",
            "appointmentid": slot.appointment_id,
            "patientid": other.patient_id,
            "appointmenttypeid": slot.appointment_type_id,
        }
    )
    drain()
    book = WriteIntent.objects.get(operation="book_appointment")
    assert book.state == "failed" and "409" in book.last_error
    assert submission_status(Submission.objects.get(public_id=submission["id"])) == "failed"
    assert PortalEvent.objects.filter(type="submission.failed").exists()


def test_a_patient_whose_write_keeps_failing_is_parked_alone(portal: Portal, sandbox: Sandbox) -> None:
    stuck = register(portal)
    fine = register(portal)
    drain()
    stuck_patient = Patient.objects.get(public_id=stuck["patient_id"])
    route = f"/v1/195900/patients/{stuck_patient.athena_patient_id}"
    sandbox.configure(faults={"rules": [{"method": "PUT", "route": route, "kind": "error_before", "rate": 1.0}]})
    portal.patch(f"/api/v1/patients/{stuck['patient_id']}", {"mobile_phone": "5550107777"})
    portal.patch(f"/api/v1/patients/{stuck['patient_id']}", {"email": "second.change@example.test"})
    portal.patch(f"/api/v1/patients/{fine['patient_id']}", {"mobile_phone": "5550108888"})
    for _ in range(12):
        drain()
    first, second = WriteIntent.objects.filter(patient=stuck_patient, operation="update_patient").order_by("pk")
    assert first.state == "parked" and first.attempts > first.max_attempts - 1
    assert second.state == "pending"  # waits behind the parked write of the same patient
    other = WriteIntent.objects.get(patient__public_id=fine["patient_id"], operation="update_patient")
    assert other.state == "succeeded"  # other patients are not held up

    preview = ledger.dry_run(first)
    assert preview["method"] == "PUT" and preview["form"] == {"mobilephone": "5550107777"}
    sandbox.configure(faults={"rules": []})
    intent_retry(intent=first, actor="frontdesk.boston", reason="athena is back")
    drain()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == ("succeeded", "succeeded")
    chart = build_athena_client().get_patient(stuck_patient.athena_patient_id)
    assert (chart.mobile_phone, chart.email) == ("5550107777", "second.change@example.test")


def test_a_booking_cancelled_before_it_reaches_athena_is_booked_then_cancelled_once(
    portal: Portal, sandbox: Sandbox
) -> None:
    patient_id = register(portal)["patient_id"]
    drain()
    slot = open_slot()
    booking = {
        "patient_id": patient_id,
        "slot_id": slot.appointment_id,
        "location_id": "1",
        "appointment_type_id": slot.appointment_type_id,
    }
    assert portal.post("/api/v1/appointments", booking).status_code == 202
    # The portal cancels at once: the booking is accepted but still on its way to athena.
    cancel = portal.post(f"/api/v1/appointments/{slot.appointment_id}/cancel", {"reason": "changed my mind"})
    assert cancel.status_code == 202, cancel.content
    assert WriteIntent.objects.get(operation="cancel_appointment").depends_on == WriteIntent.objects.get(
        operation="book_appointment"
    )
    # Another portal client may not cancel it, booked or not.
    other = make_portal("other-portal", locations=["1"])
    assert other.post(f"/api/v1/appointments/{slot.appointment_id}/cancel", {"reason": "x"}).status_code == 404
    drain()
    assert client_status(slot.appointment_id)[0] == "x"
    assert len(sandbox.requests(route="/v1/{practiceid}/appointments/{appointmentid}", method="PUT")) == 1
    assert len(sandbox.requests(route="/v1/{practiceid}/appointments/{appointmentid}/cancel")) == 1
