"""The PHI access log: every staff view of a patient's data leaves who/what/when/where."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory

from hub.access_log import phi_view_record
from hub.audit import audit_record
from hub.models import AuditEvent
from tests.factories import make_appointment, make_insurance, make_patient
from tests.staff.conftest import sign_in


def views() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="view").order_by("sequence"))


@pytest.mark.django_db
def test_opening_a_patient_records_who_what_when_and_from_where(client: Client, front_desk: Any, clinic_a: Any) -> None:
    patient = make_patient(clinic_a)
    sign_in(client, front_desk)
    assert client.get(f"/admin/hub/patient/{patient.pk}/change/", REMOTE_ADDR="10.1.2.3").status_code == 200
    [row] = views()
    assert (row.system, row.direction, row.object_type, row.object_id) == (
        "hub",
        "internal",
        "patient",
        str(patient.pk),
    )
    assert row.patient_ref == str(patient.pk) and row.department_id_ref == str(clinic_a.pk)
    assert (row.actor_type, row.actor_id, row.actor_label) == ("user", str(front_desk.pk), "desk-a")
    assert row.remote_addr == "10.1.2.3"
    assert row.route == "admin/hub/patient/<path:object_id>/change/"
    assert patient.last_name not in str(row.detail)


@pytest.mark.django_db
def test_insurance_and_appointment_views_point_at_their_patient(client: Client, front_desk: Any, clinic_a: Any) -> None:
    patient = make_patient(clinic_a)
    insurance = make_insurance(patient)
    appointment = make_appointment(clinic_a, patient=patient)
    sign_in(client, front_desk)
    client.get(f"/admin/hub/patientinsurance/{insurance.pk}/change/")
    client.get(f"/admin/hub/appointment/{appointment.pk}/change/")
    got = [(r.object_type, r.object_id, r.patient_ref, r.department_id_ref) for r in views()]
    assert got == [
        ("patientinsurance", str(insurance.pk), str(patient.pk), str(clinic_a.pk)),
        ("appointment", str(appointment.pk), str(patient.pk), str(clinic_a.pk)),
    ]


@pytest.mark.django_db
def test_lists_record_how_many_rows_were_shown_but_not_the_search_words(
    client: Client, front_desk: Any, clinic_a: Any
) -> None:
    make_patient(clinic_a, last_name="Searchable")
    make_patient(clinic_a, last_name="Another")
    sign_in(client, front_desk)
    client.get("/admin/hub/patient/")
    client.get("/admin/hub/patient/?q=Searchable&status__exact=active")
    first, second = AuditEvent.objects.filter(action="list", object_type="patient").order_by("sequence")
    assert first.detail == {"count": 2, "filters": [], "search": False}
    assert second.detail == {"count": 1, "filters": ["status"], "search": True}
    assert "Searchable" not in str(AuditEvent.objects.values_list("detail", "route", "outcome_detail"))


@pytest.mark.django_db
def test_a_refused_view_of_another_locations_patient_is_not_an_access(
    client: Client, front_desk: Any, clinic_b: Any
) -> None:
    elsewhere = make_patient(clinic_b)
    sign_in(client, front_desk)
    client.get(f"/admin/hub/patient/{elsewhere.pk}/change/")
    assert views() == []


@pytest.mark.django_db
def test_opening_an_audit_row_is_itself_logged(client: Client, compliance: Any, clinic_a: Any) -> None:
    patient = make_patient(clinic_a)
    row = audit_record(system="athena", action="call", patient_ref=patient.pk, department_ref=clinic_a.pk)
    sign_in(client, compliance)
    assert client.get(f"/admin/audit/{row.sequence}/").status_code == 200
    [access] = views()
    assert (access.object_type, access.object_id, access.patient_ref) == (
        "auditevent",
        str(row.sequence),
        str(patient.pk),
    )


@pytest.mark.django_db
def test_compliance_can_ask_who_looked_at_a_patient(
    client: Client, front_desk: Any, integration_admin: Any, compliance: Any, clinic_a: Any
) -> None:
    patient = make_patient(clinic_a)
    other = make_patient(clinic_a)
    for user in (front_desk, integration_admin):
        sign_in(client, user)
        client.get(f"/admin/hub/patient/{patient.pk}/change/")
    client.get(f"/admin/hub/patient/{other.pk}/change/")
    sign_in(client, compliance)
    # The patient page links straight to the question.
    page = client.get(f"/admin/hub/patient/{patient.pk}/change/").content.decode()
    assert f"/admin/audit/?patient={patient.pk}&action=view" in page
    result = client.get(f"/admin/audit/?patient={patient.pk}&action=view")
    rows = result.context["page"].rows
    assert [r.actor_label for r in rows] == ["auditor", "integrator", "desk-a"]  # newest first
    assert all(r.patient_ref == str(patient.pk) for r in rows)


@pytest.mark.django_db
def test_the_helper_records_views_from_any_app(front_desk: Any) -> None:
    request = RequestFactory().get("/cards/7/")
    request.user = front_desk
    phi_view_record(request, object_type="cardimage", object_id=7, patient_ref=42, department_ref=3)
    row = AuditEvent.objects.get(action="view")
    assert (row.object_type, row.object_id, row.patient_ref, row.department_id_ref) == ("cardimage", "7", "42", "3")
    assert row.actor_label == "desk-a"
    request.user = AnonymousUser()
    assert phi_view_record(request, object_type="cardimage", object_id=7).actor_type == "system"
