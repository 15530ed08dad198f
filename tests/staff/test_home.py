"""The staff home page: today's work at the user's own locations, most urgent first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.models import Appointment, AuditEvent, PatientInsurance
from hub.staff_home import (
    PanelData,
    PanelRow,
    clear_denial_risk_provider,
    register_denial_risk_provider,
    register_panel,
    unregister_panel,
)
from tests.factories import make_appointment, make_insurance, make_patient
from tests.staff.conftest import sign_in


def local_today(department: Any) -> dt.date:
    return timezone.now().astimezone(department.tzinfo).date()


def book(department: Any, *, last_name: str, hour: int, eligibility: str | None = "active", **fields: Any) -> Any:
    patient = make_patient(department, last_name=last_name)
    if eligibility is not None:
        make_insurance(patient, eligibility_status=eligibility, eligibility_checked_at=timezone.now())
    return make_appointment(
        department, patient=patient, date=local_today(department), start_time=dt.time(hour, 0), **fields
    )


def panel(response: Any, key: str) -> Any:
    return next(p for p in response.context["panels"] if p.key == key)


@pytest.mark.django_db
def test_front_desk_sees_todays_appointments_at_their_locations_only(
    client: Client, front_desk: Any, clinic_a: Any, clinic_b: Any
) -> None:
    book(clinic_a, last_name="Hereford", hour=9)
    book(clinic_b, last_name="Thereby", hour=9)
    make_appointment(
        clinic_a,
        date=local_today(clinic_a) + dt.timedelta(days=1),
        patient=make_patient(clinic_a, last_name="Tomorrowson"),
    )
    book(clinic_a, last_name="Cancelledson", hour=10, status=Appointment.Status.CANCELLED)
    sign_in(client, front_desk)
    response = client.get("/admin/")
    html = response.content.decode()
    assert "Hereford" in html
    assert "Thereby" not in html and "Tomorrowson" not in html and "Cancelledson" not in html
    assert panel(response, "appointments-today").data.count == 1
    assert "Northside Clinic <b>1</b>" in html
    # Page titles never carry names.
    assert "Hereford" not in html.split("<title>")[1].split("</title>")[0]


@pytest.mark.django_db
def test_eligibility_problems_come_first_and_are_flagged(client: Client, front_desk: Any, clinic_a: Any) -> None:
    book(clinic_a, last_name="Earlybird", hour=8)
    book(clinic_a, last_name="Lapsed", hour=11, eligibility=PatientInsurance.EligibilityStatus.INACTIVE)
    book(clinic_a, last_name="Uninsured", hour=12, eligibility=None)
    book(clinic_a, last_name="Arrived", hour=7, status=Appointment.Status.CHECKED_IN)
    sign_in(client, front_desk)
    data = panel(client.get("/admin/"), "appointments-today").data
    order = [str(row.cells[2]) for row in data.rows]
    names = ["Lapsed", "Uninsured", "Earlybird", "Arrived"]
    assert [next(n for n in names if n in cell) for cell in order] == names
    assert [row.urgent for row in data.rows] == [True, True, False, False]
    assert data.rows[0].cells[6].startswith("Inactive")
    assert data.rows[1].cells[6] == "No insurance on file"
    assert data.summary == "2 need an insurance check before the visit"


@pytest.mark.django_db
def test_denial_risk_shows_a_dash_until_the_eligibility_app_provides_it(
    client: Client, front_desk: Any, clinic_a: Any
) -> None:
    book(clinic_a, last_name="Riskman", hour=9)
    sign_in(client, front_desk)
    assert panel(client.get("/admin/"), "appointments-today").data.rows[0].cells[7] == "—"
    register_denial_risk_provider(lambda appointments: {a.pk: "High (81)" for a in appointments})
    try:
        assert panel(client.get("/admin/"), "appointments-today").data.rows[0].cells[7] == "High (81)"
    finally:
        clear_denial_risk_provider()


@pytest.mark.django_db
def test_an_empty_day_says_so(client: Client, front_desk: Any) -> None:
    sign_in(client, front_desk)
    assert "No booked appointments today at your locations." in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_showing_the_appointments_is_logged_as_a_phi_list(client: Client, front_desk: Any, clinic_a: Any) -> None:
    book(clinic_a, last_name="Logged", hour=9)
    book(clinic_a, last_name="Logged", hour=10)
    sign_in(client, front_desk)
    client.get("/admin/")
    row = AuditEvent.objects.get(action="list", object_type="appointment")
    assert row.detail["count"] == 2 and row.actor_label == "desk-a"


@pytest.mark.django_db
def test_panels_from_other_apps_are_sorted_by_urgency_and_gated_by_permission(
    client: Client, front_desk: Any, clinic_a: Any
) -> None:
    def conflicts(request: Any) -> PanelData:
        return PanelData(
            columns=["Field"],
            rows=[PanelRow(cells=["Legal name"], urgent=True, age=dt.timedelta(hours=5))],
            count=1,
            oldest_age=dt.timedelta(hours=5),
        )

    def broken(request: Any) -> PanelData:
        raise RuntimeError("boom with patient name Smith")

    register_panel("conflicts", "Conflicts to resolve", conflicts, permission="hub.view_patient", priority=10)
    register_panel("ocr", "Card reviews", broken, permission="hub.view_patient", priority=20)
    register_panel("admins-only", "Replays", conflicts, permission="hub.change_department")
    try:
        sign_in(client, front_desk)
        response = client.get("/admin/")
        keys = [p.key for p in response.context["panels"]]
        html = response.content.decode()
    finally:
        for key in ("conflicts", "ocr", "admins-only"):
            unregister_panel(key)
    assert keys[0] == "conflicts" and "admins-only" not in keys
    assert "oldest 5 h" in html
    assert "This panel could not be loaded just now." in html and "Smith" not in html
    assert response.status_code == 200
