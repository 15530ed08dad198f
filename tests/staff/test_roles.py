"""Roles and locations, enforced on every staff view and action."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from hub.audit import audit_record
from hub.models import AuditEvent, Department, Patient
from hub.roles import COMPLIANCE
from tests.factories import make_appointment, make_insurance, make_patient, make_staff
from tests.staff.conftest import sign_in

ROLES = ["front_desk", "compliance", "integration_admin", "superuser"]

# view -> the roles that may open it (everyone else gets 403).
VIEW_ACCESS = {
    "/admin/": {"front_desk", "compliance", "integration_admin", "superuser"},
    "/admin/audit/": {"compliance", "superuser"},
    "/admin/audit/export.csv": {"compliance", "superuser"},
    "/admin/audit/verify/": {"compliance", "superuser"},
    "/admin/audit/{row}/": {"compliance", "superuser"},
    "/admin/locations/": {"compliance", "integration_admin", "superuser"},
    "/admin/hub/patient/": {"front_desk", "compliance", "integration_admin", "superuser"},
    "/admin/hub/patient/{patient}/change/": {"front_desk", "compliance", "integration_admin", "superuser"},
    "/admin/hub/appointment/": {"front_desk", "compliance", "integration_admin", "superuser"},
    "/admin/hub/alert/": {"compliance", "integration_admin", "superuser"},
}


@pytest.fixture
def world(
    clinic_a: Any, clinic_b: Any, front_desk: Any, compliance: Any, integration_admin: Any, superuser: Any
) -> Any:
    patient = make_patient(clinic_a)
    row = audit_record(system="athena", action="call", department_ref=clinic_a.pk, patient_ref=patient.pk)
    users = {
        "front_desk": front_desk,
        "compliance": compliance,
        "integration_admin": integration_admin,
        "superuser": superuser,
    }
    return {"users": users, "patient": patient, "row": row}


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(VIEW_ACCESS))
@pytest.mark.parametrize("role", ROLES)
def test_every_view_opens_only_for_its_roles(client: Client, world: Any, url: str, role: str) -> None:
    sign_in(client, world["users"][role])
    response = client.get(url.format(row=world["row"].sequence, patient=world["patient"].pk))
    expected = 200 if role in VIEW_ACCESS[url] else 403
    assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(VIEW_ACCESS))
def test_signed_out_visitors_are_sent_to_sign_in(client: Client, world: Any, url: str) -> None:
    response = client.get(url.format(row=world["row"].sequence, patient=world["patient"].pk))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("role,expected", [("front_desk", 403), ("compliance", 302), ("integration_admin", 403)])
def test_only_compliance_and_superusers_run_the_chain_verification(
    client: Client, world: Any, role: str, expected: int
) -> None:
    sign_in(client, world["users"][role])
    assert client.post("/admin/audit/verify/").status_code == expected


@pytest.mark.django_db
def test_compliance_cannot_change_anything_anywhere(client: Client, world: Any, clinic_a: Any) -> None:
    auditor = world["users"]["compliance"]
    # Even with a change permission granted by mistake, the read-only role refuses writes.
    auditor.user_permissions.add(*Permission.objects.filter(codename__in=["change_department", "change_patient"]))
    sign_in(client, get_user_model().objects.get(pk=auditor.pk))
    posts = [
        (f"/admin/hub/department/{clinic_a.pk}/change/", {"name": "Renamed", "practice": clinic_a.practice_id}),
        (f"/admin/hub/patient/{world['patient'].pk}/change/", {"first_name": "Changed"}),
        ("/admin/hub/patient/", {"action": "delete_selected", "_selected_action": [world["patient"].pk]}),
        ("/admin/auth/user/add/", {"username": "sneaky", "password1": "x", "password2": "x"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert Department.objects.get(pk=clinic_a.pk).name == "Northside Clinic"
    assert Patient.objects.filter(pk=world["patient"].pk).exists()
    # Signing out is still allowed.
    assert client.post("/admin/logout/").status_code in (200, 302)


@pytest.mark.django_db
def test_integration_admin_can_change_locations(client: Client, world: Any, clinic_a: Any) -> None:
    sign_in(client, world["users"]["integration_admin"])
    page = client.get(f"/admin/hub/department/{clinic_a.pk}/change/")
    assert page.status_code == 200
    data = {
        "practice": clinic_a.practice_id,
        "athena_department_id": clinic_a.athena_department_id,
        "name": "Northside Clinic East",
        "timezone": clinic_a.timezone,
        "is_active": "on",
    }
    response = client.post(f"/admin/hub/department/{clinic_a.pk}/change/", data)
    assert response.status_code == 302
    assert Department.objects.get(pk=clinic_a.pk).name == "Northside Clinic East"


@pytest.mark.django_db
def test_integration_admin_cannot_make_anyone_a_superuser(client: Client, world: Any) -> None:
    admin_user = world["users"]["integration_admin"]
    sign_in(client, admin_user)
    page = client.get(f"/admin/auth/user/{admin_user.pk}/change/")
    assert page.status_code == 200
    assert b'name="is_superuser"' not in page.content
    # Nor may they set the flag by posting it.
    form = {"username": admin_user.username, "is_active": "on", "is_staff": "on", "is_superuser": "on"}
    form.update(
        {
            "staff_profile-TOTAL_FORMS": "1",
            "staff_profile-INITIAL_FORMS": "1",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "staff_profile-0-id": admin_user.staff_profile.pk,
            "staff_profile-0-user": admin_user.pk,
            "staff_profile-0-all_locations": "on",
        }
    )
    saved = client.post(f"/admin/auth/user/{admin_user.pk}/change/", form)
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    # A superuser's account is not theirs to edit: the page is read-only and a post is refused.
    root = world["users"]["superuser"]
    assert b'type="submit" value="Save"' not in client.get(f"/admin/auth/user/{root.pk}/change/").content
    assert client.post(f"/admin/auth/user/{root.pk}/change/", {"username": "taken-over"}).status_code == 403
    root.refresh_from_db()
    assert root.username == "root"


@pytest.mark.django_db
def test_front_desk_sees_only_their_locations_rows(client: Client, world: Any, clinic_a: Any, clinic_b: Any) -> None:
    other = make_patient(clinic_b, last_name="Elsewhereson")
    make_appointment(clinic_b, patient=other, athena_appointment_id="999111")
    sign_in(client, world["users"]["front_desk"])
    patients = client.get("/admin/hub/patient/").content.decode()
    assert world["patient"].last_name in patients and "Elsewhereson" not in patients
    assert "999111" not in client.get("/admin/hub/appointment/").content.decode()
    departments = client.get("/admin/hub/department/").content.decode()
    assert "Northside Clinic" in departments and "Harbor Clinic" not in departments
    # Not even as a filter choice.
    assert (
        "Harbor Clinic" not in patients
        and "Harbor Clinic" not in client.get("/admin/hub/appointment/").content.decode()
    )
    # Guessing another location's ids leads nowhere.
    elsewhere_appointment = other.appointments.get()
    elsewhere_insurance = make_insurance(other, member_id="ELSEWHERE123")
    for url in (
        f"/admin/hub/patient/{other.pk}/change/",
        f"/admin/hub/appointment/{elsewhere_appointment.pk}/change/",
        f"/admin/hub/patientinsurance/{elsewhere_insurance.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        landing = client.get(response["Location"]).content.decode()
        assert "Elsewhereson" not in landing and "ELSEWHERE123" not in landing
    assert "ELSEWHERE123" not in client.get("/admin/hub/patientinsurance/").content.decode()


@pytest.mark.django_db
def test_a_location_scoped_auditor_sees_only_their_locations_audit_rows(
    client: Client, clinic_a: Any, clinic_b: Any
) -> None:
    auditor = make_staff("auditor-a", role=COMPLIANCE, departments=[clinic_a])
    mine = audit_record(system="athena", action="call", department_ref=clinic_a.pk)
    theirs = audit_record(system="athena", action="call", department_ref=clinic_b.pk)
    sign_in(client, auditor)
    page = client.get("/admin/audit/?system=athena").content.decode()
    assert f"/admin/audit/{mine.sequence}/" in page and f"/admin/audit/{theirs.sequence}/" not in page
    assert client.get(f"/admin/audit/{theirs.sequence}/").status_code == 404
    export = b"".join(client.get("/admin/audit/export.csv?system=athena").streaming_content).decode()
    assert f"\n{mine.sequence}," in export and f"\n{theirs.sequence}," not in export


@pytest.mark.django_db
def test_the_audit_trail_cannot_be_edited_through_the_admin(client: Client, world: Any) -> None:
    sign_in(client, world["users"]["superuser"])
    row = world["row"]
    assert client.get(f"/admin/hub/auditevent/{row.pk}/change/")["Location"] == f"/admin/audit/{row.sequence}/"
    assert client.post(f"/admin/hub/auditevent/{row.pk}/delete/").status_code in (403, 302)
    assert AuditEvent.objects.filter(pk=row.pk).exists()
    assert client.get("/admin/hub/auditevent/add/").status_code == 403
