"""The portal API as the portal uses it: OAuth, scopes, validation, idempotency, location scoping."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from hub.models import AuditEvent, Patient, PatientInsurance
from intake.models import IdempotencyKey, PortalClient, Submission
from sync.models import WriteIntent
from tests.api.conftest import Portal, fetch_token, make_portal, registration
from tests.factories import make_appointment

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if code:
        assert body["code"] == code
    return body


# --- OAuth --------------------------------------------------------------------------------------


def test_token_needs_the_right_secret(portal: Portal) -> None:
    assert fetch_token(portal.client_id, "not-the-secret").status_code == 401
    assert fetch_token(portal.client_id, portal.secret).status_code == 200


def test_token_without_a_scope_gets_read_only(portal: Portal) -> None:
    token = fetch_token(portal.client_id, portal.secret).json()
    assert token["scope"] == "read"
    assert token["expires_in"] <= 3600


def test_token_cannot_ask_for_scopes_the_client_was_not_granted(clinics: dict[str, Any]) -> None:
    reader = make_portal("reader", locations=["1"], scopes=["read"])
    response = fetch_token(reader.client_id, reader.secret, "read patients:write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_rotated_secret_keeps_working_during_the_overlap_then_stops(portal: Portal) -> None:
    from django.core.management import call_command

    call_command("rotate_portal_client_secret", "boston-portal", "--overlap-hours", "1", stdout=io.StringIO())
    assert fetch_token(portal.client_id, portal.secret).status_code == 200
    client = PortalClient.objects.get(pk=portal.pk)
    client.previous_secrets.update(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert fetch_token(portal.client_id, portal.secret).status_code == 401


def test_request_without_a_token_is_401_problem(clinics: dict[str, Any]) -> None:
    response = Client().get("/api/v1/locations")
    assert_problem(response, 401)
    assert "Bearer" in response["WWW-Authenticate"]


def test_request_with_a_made_up_token_is_401(clinics: dict[str, Any]) -> None:
    response = Client().get("/api/v1/locations", HTTP_AUTHORIZATION="Bearer not-a-real-token")
    assert_problem(response, 401)


def test_write_without_its_scope_is_403(clinics: dict[str, Any]) -> None:
    reader = make_portal("reader", locations=["1"], scopes=["read"])
    response = reader.post("/api/v1/patients", registration())
    assert_problem(response, 403)
    assert not Patient.objects.exists()


def test_locations_lists_only_granted_clinics(portal: Portal) -> None:
    response = portal.get("/api/v1/locations")
    assert response.status_code == 200
    assert [row["location_id"] for row in response.json()] == ["1"]


# --- registration -------------------------------------------------------------------------------


def test_registration_is_accepted_with_a_submission_and_one_intent(portal: Portal) -> None:
    response = portal.post("/api/v1/patients", registration())
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "processing"
    assert body["kind"] == "register_patient"
    assert [intent["operation"] for intent in body["intents"]] == ["create_patient"]
    assert response["Location"] == f"/api/v1/submissions/{body['id']}"
    patient = Patient.objects.get(public_id=body["patient_id"])
    assert patient.mobile_phone == "5550101234"  # normalised to digits
    assert patient.athena_patient_id is None  # athena is written by the ledger, not by the request

    status = portal.get(f"/api/v1/submissions/{body['id']}")
    assert status.status_code == 200
    assert status.json()["intents"][0]["state"] == "pending"


def test_registration_with_bad_fields_names_them_and_stores_nothing(portal: Portal) -> None:
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = portal.post(
        "/api/v1/patients", registration(dob=future, mobile_phone="12", email="not-an-email", state="Massachusetts")
    )
    body = assert_problem(response, 400, "validation-error")
    assert {"dob", "mobile_phone", "email", "state"} <= set(body["errors"])
    assert not Patient.objects.exists()
    assert not Submission.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert not WriteIntent.objects.exists()


def test_malformed_json_is_a_400_problem(portal: Portal) -> None:
    response = portal.http.post(
        "/api/v1/patients", "{not json", content_type="application/json", **portal.headers(str(uuid.uuid4()))
    )
    assert_problem(response, 400)


def test_registration_without_any_contact_is_422_naming_what_athena_needs(portal: Portal) -> None:
    body = registration()
    for field in ("email", "mobile_phone", "zip_code"):
        body.pop(field)
    problem = assert_problem(portal.post("/api/v1/patients", body), 422, "incomplete-submission")
    assert problem["missing_fields"] == ["contact"]
    assert not Patient.objects.exists()


def test_registration_at_a_clinic_the_client_was_not_granted_is_404(portal: Portal) -> None:
    assert_problem(portal.post("/api/v1/patients", registration(location_id="157")), 404, "location-not-found")
    assert_problem(portal.post("/api/v1/patients", registration(location_id="999")), 404, "location-not-found")
    assert not Patient.objects.exists()


def test_registering_the_same_portal_patient_twice_makes_one_patient_and_one_athena_write(portal: Portal) -> None:
    body = registration()
    first = portal.post("/api/v1/patients", body).json()
    second = portal.post("/api/v1/patients", body).json()  # a new Idempotency-Key each time
    assert first["id"] != second["id"]
    assert first["patient_id"] == second["patient_id"]
    assert Patient.objects.count() == 1
    assert WriteIntent.objects.filter(operation="create_patient").count() == 1
    assert first["intents"][0]["id"] == second["intents"][0]["id"]


def test_registration_links_a_chart_the_hub_already_has(portal: Portal, boston_patient: Patient) -> None:
    body = registration(
        first_name=boston_patient.first_name,
        last_name=boston_patient.last_name,
        dob=boston_patient.dob.isoformat(),
        email="new-address@example.test",
    )
    response = portal.post("/api/v1/patients", body).json()
    assert response["patient_id"] == str(boston_patient.public_id)
    assert [i["operation"] for i in response["intents"]] == ["update_patient"]
    boston_patient.refresh_from_db()
    assert boston_patient.email == "new-address@example.test"


# --- idempotency --------------------------------------------------------------------------------


def test_write_without_idempotency_key_is_400(portal: Portal) -> None:
    assert_problem(portal.post("/api/v1/patients", registration(), key=None), 400, "idempotency-key-missing")
    assert_problem(portal.post("/api/v1/patients", registration(), key="short"), 400, "idempotency-key-invalid")
    assert not Patient.objects.exists()


def test_same_key_and_body_replays_the_first_answer(portal: Portal) -> None:
    key, body = str(uuid.uuid4()), registration()
    first = portal.post("/api/v1/patients", body, key=key)
    again = portal.post("/api/v1/patients", body, key=key)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1


def test_same_key_with_another_body_is_422(portal: Portal) -> None:
    key = str(uuid.uuid4())
    portal.post("/api/v1/patients", registration(), key=key)
    assert_problem(
        portal.post("/api/v1/patients", registration(first_name="Other"), key=key), 422, "idempotency-key-reused"
    )
    assert Submission.objects.count() == 1


def test_same_key_while_the_first_request_is_running_is_409(portal: Portal) -> None:
    from intake.api.idempotency import fingerprint

    key, body = str(uuid.uuid4()), registration()
    # The first request has claimed the key and is still working (its row says in flight).
    first = portal.post("/api/v1/patients", body, key=key)
    IdempotencyKey.objects.filter(key=key).update(state="in_flight", locked_at=timezone.now())
    assert fingerprint  # the replay check compares this digest, which matches for the same body
    assert_problem(portal.post("/api/v1/patients", body, key=key), 409, "idempotency-key-in-flight")
    assert first.status_code == 202


def test_keys_belong_to_one_client(portal: Portal, clinics: dict[str, Any]) -> None:
    other = make_portal("second-boston-portal", locations=["1"])
    key = str(uuid.uuid4())
    mine = portal.post("/api/v1/patients", registration(), key=key)
    theirs = other.post("/api/v1/patients", registration(), key=key)
    assert theirs.status_code == 202
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_requests_with_one_key_make_one_submission() -> None:
    from tests.factories import make_department, make_practice

    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("storm-portal", locations=["1"])
    key, body = str(uuid.uuid4()), registration()
    results: list[Any] = []
    barrier = threading.Barrier(50)

    def send() -> None:
        barrier.wait()
        try:
            results.append(
                Portal(Client(), portal.client_id, portal.secret, portal.token, portal.pk).post(
                    "/api/v1/patients", body, key=key
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted({r.status_code for r in results})
    assert set(statuses) <= {202, 409}, statuses
    assert Submission.objects.count() == 1
    assert Patient.objects.count() == 1
    accepted = {r.json()["id"] for r in results if r.status_code == 202}
    assert len(accepted) == 1


# --- location scoping (BOLA) --------------------------------------------------------------------


def test_a_patient_of_another_clinic_does_not_exist_for_this_client(portal: Portal, austin_patient: Patient) -> None:
    path = f"/api/v1/patients/{austin_patient.public_id}"
    assert_problem(portal.get(path), 404, "patient-not-found")
    assert_problem(portal.patch(path, {"email": "x@example.test"}), 404, "patient-not-found")
    insurance = {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "ZZX123456789", "insurance_package_id": "100"}
    assert_problem(portal.post(f"{path}/insurances", insurance), 404)
    form = {"form_name": "history", "answers": {"q1": "yes"}}
    assert_problem(portal.post(f"{path}/intake-forms", form), 404)
    austin_patient.refresh_from_db()
    assert austin_patient.email != "x@example.test"
    assert not Submission.objects.exists()


def test_an_appointment_of_another_clinic_does_not_exist_for_this_client(
    portal: Portal, clinics: dict[str, Any], austin_patient: Patient
) -> None:
    appointment = make_appointment(clinics["austin"], patient=austin_patient)
    base = f"/api/v1/appointments/{appointment.athena_appointment_id}"
    assert_problem(portal.post(f"{base}/cancel", {}), 404, "appointment-not-found")
    assert_problem(portal.post(f"{base}/reschedule", {"new_slot_id": "123"}), 404, "appointment-not-found")
    assert_problem(portal.post(f"{base}/check-in", {}), 404, "appointment-not-found")
    assert not WriteIntent.objects.exists()


def test_another_clients_submission_does_not_exist_for_this_client(portal: Portal, clinics: dict[str, Any]) -> None:
    other = make_portal("second-boston-portal", locations=["1"])
    submission_id = other.post("/api/v1/patients", registration()).json()["id"]
    assert_problem(portal.get(f"/api/v1/submissions/{submission_id}"), 404, "submission-not-found")
    assert_problem(portal.get(f"/api/v1/submissions/{uuid.uuid4()}"), 404, "submission-not-found")


def test_unknown_api_paths_and_methods_answer_problems(portal: Portal) -> None:
    assert_problem(portal.get("/api/v1/no-such-thing"), 404)
    response = portal.http.delete("/api/v1/locations", **portal.headers())
    assert_problem(response, 405)


# --- other writes -------------------------------------------------------------------------------


def test_demographic_update_writes_only_changed_fields(portal: Portal, boston_patient: Patient) -> None:
    response = portal.patch(
        f"/api/v1/patients/{boston_patient.public_id}",
        {"mobile_phone": "555-010-9999", "email": boston_patient.email},
    )
    assert response.status_code == 202
    intent = WriteIntent.objects.get(operation="update_patient")
    assert intent.target == {"fields": ["mobile_phone"]}


def test_insurance_twice_under_different_keys_is_one_insurance_and_one_write(
    portal: Portal, boston_patient: Patient
) -> None:
    body = {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "zzx-1234 56789", "insurance_package_id": "100"}
    path = f"/api/v1/patients/{boston_patient.public_id}/insurances"
    assert portal.post(path, body).status_code == 202
    assert portal.post(path, body).status_code == 202
    assert PatientInsurance.objects.get().member_id == "ZZX123456789"
    assert WriteIntent.objects.filter(operation="create_insurance").count() == 1


def test_insurance_for_someone_else_needs_the_holder(portal: Portal, boston_patient: Patient) -> None:
    body = {
        "payer_name": "EXAMPLE HEALTH PLAN",
        "member_id": "ZZX123456789",
        "insurance_package_id": "100",
        "relationship_to_holder": "child",
    }
    problem = assert_problem(
        portal.post(f"/api/v1/patients/{boston_patient.public_id}/insurances", body), 422, "incomplete-submission"
    )
    assert set(problem["missing_fields"]) == {"holder_first_name", "holder_last_name", "holder_dob", "holder_sex"}


def test_intake_form_is_kept_and_consents_reach_athena(portal: Portal, boston_patient: Patient) -> None:
    body = {"form_name": "new-patient-history", "answers": {"allergies": "none"}, "consents": {"text_messages": True}}
    response = portal.post(f"/api/v1/patients/{boston_patient.public_id}/intake-forms", body)
    assert response.status_code == 202
    assert boston_patient.intake_forms.get().answers == {"allergies": "none"}
    assert WriteIntent.objects.get().target == {"fields": ["consent_to_text"]}


def test_every_api_call_is_audited_with_route_templates_and_no_values(portal: Portal) -> None:
    body = registration(last_name="Canarysurname")
    portal.post("/api/v1/patients", body)
    portal.get("/api/v1/locations")
    rows = AuditEvent.objects.filter(system="portal", action="api").order_by("sequence")
    assert [(row.method, row.route, row.status_code) for row in rows] == [
        ("POST", "/api/v1/patients", 202),
        ("GET", "/api/v1/locations", 200),
    ]
    assert rows[0].actor_type == "portal_client" and rows[0].patient_ref
    for row in AuditEvent.objects.all():
        assert "Canarysurname" not in str(row.__dict__)


def test_a_self_insured_patient_must_have_a_known_sex_for_athena(portal: Portal, boston_patient: Patient) -> None:
    boston_patient.sex = ""
    boston_patient.save()
    body = {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "ZZX123456789", "insurance_package_id": "100"}
    problem = assert_problem(
        portal.post(f"/api/v1/patients/{boston_patient.public_id}/insurances", body), 422, "incomplete-submission"
    )
    assert problem["missing_fields"] == ["holder_sex"]
    body["holder_sex"] = "F"
    assert portal.post(f"/api/v1/patients/{boston_patient.public_id}/insurances", body).status_code == 202


@pytest.mark.parametrize(
    "answers",
    [
        {"allergies": "none\u0000"},
        {"history": {"nested\u0000key": ["x"]}},
        {"history": [{"deep": ["\ud83d"]}]},
    ],
    ids=["nul-in-a-value", "nul-in-a-nested-key", "lone-surrogate-deep-down"],
)
def test_text_no_database_can_store_is_400_naming_the_field_and_nothing_is_kept(
    portal: Portal, boston_patient: Any, answers: dict[str, Any]
) -> None:
    from intake.models import IntakeForm, Submission

    response = portal.post(
        f"/api/v1/patients/{boston_patient.public_id}/intake-forms", {"form_name": "history", "answers": answers}
    )
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")
    assert list(response.json()["errors"]) == ["answers"]
    assert not Submission.objects.exists() and not IntakeForm.objects.exists()
