"""The athena client against the sandbox, endpoint by endpoint, in both of athena's type-drift modes.

Whatever athena answers (JSON booleans or "true", numbers or numeric strings), the hub sees Python
types: dates as dates, durations as ints, flags as bools, ids as strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hub.athena import build_athena_client
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import (
    AthenaNotFoundError,
    AthenaPermanentError,
    AthenaSlotUnavailableError,
)
from hub.integrations.athena.types import InsuranceWrite, PatientWrite
from hub.models import AuditEvent
from tests.conftest import Sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["modern", "legacy"])
def client(request: Any, sandbox: Sandbox) -> AthenaClient:
    sandbox.configure(type_drift=request.param)
    return build_athena_client()


def an_open_slot(client: AthenaClient, department_id: str = "1") -> Any:
    today = dt.date.today()  # noqa: DTZ011 - the sandbox's calendar is in local dates
    kinds = client.list_appointment_types()
    for kind in kinds:
        slots = client.list_open_slots(
            department_id=department_id,
            start_date=today,
            end_date=today + dt.timedelta(days=14),
            appointment_type_id=kind.appointment_type_id,
        )
        if slots:
            return slots[0]
    raise AssertionError("the sandbox offers no open slot")


def test_ping_and_reference_data(client: AthenaClient) -> None:
    assert client.ping() is True
    departments = client.list_departments()
    assert len(departments) == 15
    zones = {d.department_id: d.timezone for d in departments}
    assert zones["1"] == "America/New_York" and zones["236"] == "Pacific/Honolulu" and zones["195"] == "America/Phoenix"
    assert client.get_department("162").name == "Great Lakes Cardiology"
    providers = client.list_providers()
    assert len(providers) >= 30
    assert all(p.provider_id and isinstance(p.provider_id, str) for p in providers)
    assert client.get_provider(providers[0].provider_id).npi == providers[0].npi
    kinds = client.list_appointment_types()
    assert kinds and all(isinstance(k.duration_minutes, int) and k.duration_minutes > 0 for k in kinds)
    assert all(isinstance(k.is_patient_facing, bool) for k in kinds)
    reasons = client.list_appointment_reasons(department_id="1")
    assert reasons and all(isinstance(r.scheduling_min_hours, int) for r in reasons)


def test_patients_search_get_create_match_update(client: AthenaClient) -> None:
    found = list(client.search_patients(department_id="1"))
    assert len(found) > 10  # more than one page of athena's default 10
    first = found[0]
    assert isinstance(first.dob, dt.date) and first.patient_id.isdigit()
    full = client.get_patient(first.patient_id, show_insurance=True)
    assert full.last_name == first.last_name
    assert all(isinstance(i.sequence_number, int) for i in full.insurances)

    new = PatientWrite(
        first_name="Quinn",
        last_name="Contractcheck",
        dob=dt.date(1991, 3, 4),
        sex="F",
        mobile_phone="5550109911",
        email="quinn.contract@example.test",
        zip_code="02110",
        department_id="1",
    )
    created = client.create_patient(new)
    # athena matches silently: the same person again gets the same chart, not a second one.
    assert client.create_patient(new) == created
    candidates = client.enhanced_best_match(
        first_name="Quinn", last_name="Contractcheck", dob=dt.date(1991, 3, 4), mobile_phone="5550109911"
    )
    assert candidates[0].patient_id == created and isinstance(candidates[0].score, int)
    assert candidates[0].score >= 26

    client.update_patient(created, PatientWrite(home_phone="5550104444", consent_to_text=True))
    updated = client.get_patient(created)
    assert updated.home_phone == "5550104444" and updated.consent_to_text is True

    with pytest.raises(AthenaNotFoundError):
        client.get_patient("999999999")


def test_insurances_create_update_cancel_and_card_image(client: AthenaClient) -> None:
    patient = client.create_patient(
        PatientWrite(
            first_name="Rowan", last_name="Insurancecheck", dob=dt.date(1980, 5, 6), zip_code="02110", department_id="1"
        )
    )
    package = client.list_insurance_packages()[0]
    created = client.create_insurance(
        patient,
        InsuranceWrite(
            insurance_package_id=package.insurance_package_id,
            sequence_number=1,
            member_id="ZZX100200300",
            holder_first_name="Rowan",
            holder_last_name="Insurancecheck",
            holder_dob=dt.date(1980, 5, 6),
            holder_sex="F",
            department_id="1",
        ),
    )
    assert created is not None and created.sequence_number == 1 and created.member_id == "ZZX100200300"
    client.update_insurance(patient, created.insurance_id, {"policynumber": "GRP7"})
    assert client.list_insurances(patient)[0].group_number == "GRP7"

    with pytest.raises(AthenaNotFoundError):
        client.get_insurance_card(patient, created.insurance_id)
    client.upload_insurance_card(patient, created.insurance_id, image=b"\x89PNG synthetic", department_id="1")
    assert client.get_insurance_card(patient, created.insurance_id) == b"\x89PNG synthetic"

    client.cancel_insurance(patient, created.insurance_id, note="replaced")
    assert client.list_insurances(patient) == []
    cancelled = client.list_insurances(patient, show_cancelled=True)
    assert cancelled[0].cancelled is True


def test_scheduling_book_conflict_cancel_reschedule_check_in(client: AthenaClient) -> None:
    patient = client.create_patient(
        PatientWrite(
            first_name="Sage", last_name="Schedulecheck", dob=dt.date(1975, 7, 8), zip_code="02110", department_id="1"
        )
    )
    slot = an_open_slot(client)
    assert slot.status == "o" and isinstance(slot.start_time, dt.time) and isinstance(slot.duration_minutes, int)
    booked = client.book_appointment(
        slot.appointment_id, patient_id=patient, appointment_type_id=slot.appointment_type_id, department_id="1"
    )
    assert booked.appointment_id == slot.appointment_id and booked.status == "f" and booked.patient_id == patient
    with pytest.raises(AthenaSlotUnavailableError) as taken:
        client.book_appointment(slot.appointment_id, patient_id=patient, appointment_type_id=slot.appointment_type_id)
    assert taken.value.status_code == 409
    assert client.get_appointment(slot.appointment_id).status == "f"
    booked_list = list(
        client.list_booked_appointments(
            department_ids=["1"], start_date=slot.date, end_date=slot.date, patient_id=patient
        )
    )
    assert [a.appointment_id for a in booked_list] == [slot.appointment_id]

    other = an_open_slot(client)
    moved = client.reschedule_appointment(
        slot.appointment_id, new_appointment_id=other.appointment_id, patient_id=patient
    )
    assert moved.appointment_id == other.appointment_id
    old = client.get_appointment(slot.appointment_id)
    assert old.status == "x" and old.rescheduled_appointment_id == other.appointment_id

    client.cancel_appointment(other.appointment_id, patient_id=patient, reason="patient asked")
    assert client.get_appointment(other.appointment_id).status == "x"

    today_slot = an_open_slot(client)
    client.book_appointment(
        today_slot.appointment_id, patient_id=patient, appointment_type_id=today_slot.appointment_type_id
    )
    client.check_in(today_slot.appointment_id)
    assert client.get_appointment(today_slot.appointment_id).status == "2"
    client.check_out(today_slot.appointment_id)
    assert client.get_appointment(today_slot.appointment_id).status == "3"


def test_changed_feeds_need_a_subscription_and_are_read_once(client: AthenaClient, sandbox: Sandbox) -> None:
    with pytest.raises(AthenaPermanentError) as refused:
        client.list_changed("patients")
    assert refused.value.status_code == 403
    client.subscribe("patients")
    assert client.subscription_status("patients").active
    some_patient = next(client.search_patients(department_id="1"))
    sandbox.edit(
        {"type": "patient.update", "patientid": some_patient.patient_id, "fields": {"homephone": "6175550177"}}
    )
    peeked = client.list_changed_patients(leave_unprocessed=True)
    assert [p.patient_id for p in peeked] == [some_patient.patient_id]
    taken = client.list_changed_patients()
    assert [p.home_phone for p in taken] == ["6175550177"]
    assert client.list_changed_patients() == []


def test_benefit_details_return_a_raw_271(client: AthenaClient) -> None:
    patient = next(p for p in client.search_patients(department_id="1") if client.list_insurances(p.patient_id))
    insurance = client.list_insurances(patient.patient_id)[0]
    today = dt.date.today()  # noqa: DTZ011
    client.request_benefit_details(patient.patient_id, insurance.insurance_id, service_type="30", date_of_service=today)
    details = client.get_benefit_details(
        patient.patient_id, insurance.insurance_id, service_type="30", date_of_service=today
    )
    assert details.ansi271.startswith("ISA") and "*271*" in details.ansi271


def test_every_http_attempt_has_exactly_one_audit_row(client: AthenaClient, sandbox: Sandbox) -> None:
    client.ping()
    client.list_departments()
    list(client.search_patients(department_id="21"))
    with pytest.raises(AthenaNotFoundError):
        client.get_patient("999999999")
    log = sandbox.requests(system="athena")
    audit = AuditEvent.objects.filter(system="athena").order_by("sequence")
    assert audit.count() == len(log)
    assert sorted(row.route for row in audit) == sorted(entry["route"] for entry in log)
    assert {row.upstream_request_id for row in audit if row.action == "call"} == {
        entry["request_id"] for entry in log if entry["route"] != "/oauth2/v1/token"
    }
    missing = audit.get(route="/v1/{practiceid}/patients/{patientid}")
    assert (missing.status_code, missing.outcome) == (404, AuditEvent.Outcome.MINOR_FAILURE)
