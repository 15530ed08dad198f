"""Cross-clinic authorisation, endpoint by endpoint: the BOLA matrix, built from the URL patterns.

Every portal operation the hub routes (and the OpenAPI schema lists) has a rule below saying how
a request of it names objects: a location, a patient, an appointment, a slot, a submission. For
each operation a portal granted only the Boston clinic sends the request with its own objects
(the control: it must succeed, so the attacks are otherwise valid), then once per object with
that object swapped for one of the Austin clinic. Every swap must answer 404 (or 403), write
nothing and queue nothing for athena. The same matrix checks that a token without the
operation's scope gets 403, and an expired, unknown or disabled-client token 401.

A new endpoint without a rule fails `test_every_portal_operation_has_a_rule`, by name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from oauth2_provider.models import AccessToken
from PIL import Image

from hub.models import Appointment, Patient, PatientInsurance
from intake.models import IntakeForm, PortalClient, Submission
from intake.portal_clients import ALL_SCOPES
from sync.models import WriteIntent
from sync.portal_events import portal_event_emit
from tests.api.conftest import Portal, fetch_token, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import make_appointment, make_patient

PREFIX = "/api/v1/"
OWN, OTHER = "boston", "austin"
NOT_THERE = (403, 404)


def portal_operations() -> set[str]:
    """Every "METHOD /api/v1/path/{param}" the URL resolver routes, from the view classes themselves."""
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and ("/" + route).startswith(PREFIX):
                view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                path = "/" + _openapi_path(route)
                for method in getattr(view, "http_method_names", []):
                    if method not in ("options", "head", "trace") and hasattr(view, method):
                        found.add(f"{method.upper()} {path}")

    walk(get_resolver().url_patterns, "")
    return found


def _openapi_path(route: str) -> str:
    import re

    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


@dataclass
class Clinic:
    """One clinic's objects, as a portal would name them."""

    location: str
    patient: str
    appointment: str  # booked for the patient, in the future
    visit: str  # booked for the patient, today (check-in opens on the day)
    slot: str  # open in athena (the sandbox)
    submission: str
    payment: str


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    multipart: bool = False  # a file upload rather than a JSON body


# How each operation names objects: the references it takes, and the request built from them.
Rule = tuple[tuple[str, ...], Callable[[dict[str, str]], Call]]

RULES: dict[str, Rule] = {
    "GET /api/v1/locations": ((), lambda r: Call("GET", "/api/v1/locations")),
    "GET /api/v1/events": ((), lambda r: Call("GET", "/api/v1/events")),
    "POST /api/v1/patients": (
        ("location",),
        lambda r: Call("POST", "/api/v1/patients", registration(location_id=r["location"])),
    ),
    "GET /api/v1/patients/{patient_id}": (
        ("patient",),
        lambda r: Call("GET", f"/api/v1/patients/{r['patient']}"),
    ),
    "PATCH /api/v1/patients/{patient_id}": (
        ("patient",),
        lambda r: Call("PATCH", f"/api/v1/patients/{r['patient']}", {"email": "moved@example.test"}),
    ),
    "POST /api/v1/patients/{patient_id}/intake-forms": (
        ("patient",),
        lambda r: Call(
            "POST",
            f"/api/v1/patients/{r['patient']}/intake-forms",
            {"form_name": "history", "answers": {"allergies": "none"}, "consents": {"text_messages": True}},
        ),
    ),
    "POST /api/v1/patients/{patient_id}/insurances": (
        ("patient",),
        lambda r: Call(
            "POST",
            f"/api/v1/patients/{r['patient']}/insurances",
            {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "EXH900000001", "insurance_package_id": "1001"},
        ),
    ),
    "POST /api/v1/patients/{patient_id}/insurance-cards": (
        ("patient",),
        lambda r: Call(
            "POST", f"/api/v1/patients/{r['patient']}/insurance-cards", {"front": card_photo()}, multipart=True
        ),
    ),
    "GET /api/v1/slots": (
        ("location",),
        lambda r: Call("GET", "/api/v1/slots", query={"location_id": r["location"], "appointment_type_id": "2"}),
    ),
    "POST /api/v1/appointments": (
        ("patient", "location", "slot"),
        lambda r: Call(
            "POST",
            "/api/v1/appointments",
            {"patient_id": r["patient"], "location_id": r["location"], "slot_id": r["slot"], "reason_id": "-1"},
        ),
    ),
    "POST /api/v1/appointments/{appointment_id}/cancel": (
        ("appointment",),
        lambda r: Call("POST", f"/api/v1/appointments/{r['appointment']}/cancel", {"reason": "feeling better"}),
    ),
    "POST /api/v1/appointments/{appointment_id}/reschedule": (
        ("appointment", "slot"),
        lambda r: Call("POST", f"/api/v1/appointments/{r['appointment']}/reschedule", {"new_slot_id": r["slot"]}),
    ),
    "POST /api/v1/appointments/{appointment_id}/check-in": (
        ("visit",),
        lambda r: Call("POST", f"/api/v1/appointments/{r['visit']}/check-in"),
    ),
    "GET /api/v1/submissions/{submission_id}": (
        ("submission",),
        lambda r: Call("GET", f"/api/v1/submissions/{r['submission']}"),
    ),
    "POST /api/v1/payments": (
        ("patient",),
        lambda r: Call(
            "POST", "/api/v1/payments", {"kind": "balance", "patient_id": r["patient"], "amount_cents": 2500}
        ),
    ),
    "GET /api/v1/payments/{payment_id}": (
        ("payment",),
        lambda r: Call("GET", f"/api/v1/payments/{r['payment']}"),
    ),
    "POST /api/v1/payments/{payment_id}/complete": (
        ("payment",),
        lambda r: Call("POST", f"/api/v1/payments/{r['payment']}/complete", {"card_token": "clv_proof_card_ok"}),
    ),
    "POST /api/v1/payments/{payment_id}/refunds": (
        ("payment",),
        lambda r: Call("POST", f"/api/v1/payments/{r['payment']}/refunds", {"amount_cents": 100}),
    ),
}
# A control that answers a state problem instead of success still got past the location check.
CONTROL_PROBLEMS = {"POST /api/v1/payments/{payment_id}/refunds": {"payment-not-refundable"}}
# List endpoints take no object: they must simply leave out every other clinic's rows.
LISTS_WITHOUT = {
    "GET /api/v1/locations": lambda body, other: [row for row in body if row["location_id"] == other.location],
    "GET /api/v1/events": lambda body, other: [
        event for event in body["events"] if event["data"].get("location_id") == other.location
    ],
}


def send(token: str, call: Call) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    client = Client()
    if call.method == "GET":
        return client.get(call.path, call.query, **headers)
    if call.multipart:
        return client.post(call.path, call.body or {}, **headers)
    return client.generic(
        call.method, call.path, data=_json(call.body or {}), content_type="application/json", **headers
    )


def card_photo() -> SimpleUploadedFile:
    """A plain photo the upload accepts (read later by OCR): a fresh file object per request."""
    out = io.BytesIO()
    Image.new("RGB", (640, 400), "white").save(out, format="PNG")
    return SimpleUploadedFile("front.png", out.getvalue(), content_type="image/png")


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)


# Rows any request may add: its audit row, and athena's token and rate budget when it reads athena.
NOT_A_FOOTPRINT = {"hub.AuditEvent", "hub.AuditChainHead", "hub.AthenaToken", "hub.RateLimitBucket"}
FOOTPRINT_APPS = ("hub", "sync", "intake", "eligibility", "notify", "payments", "django_q", "auditlog")


def footprint() -> dict[str, int]:
    """What a request may leave behind: the row count of every table of the hub and its queue.

    Every model of those apps counts, so a table a new feature adds is watched without a change here.
    """
    from django.apps import apps

    return {
        model._meta.label: model.objects.count()
        for config in apps.get_app_configs()
        if config.label in FOOTPRINT_APPS
        for model in config.get_models()
        if model._meta.label not in NOT_A_FOOTPRINT
    }


def open_slots(sandbox: Sandbox, location: str, count: int) -> list[str]:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()  # noqa: DTZ011 - the sandbox's calendar
    rows = sandbox.records("appointments", status="o", departmentid=location, limit=100000)["appointments"]
    slots = [a["appointmentid"] for a in rows if a["date"] >= tomorrow and a["api_bookable"] and not a["frozen"]]
    assert len(slots) >= count
    return [str(slot) for slot in slots[:count]]


def clinic(department: Any, portal: Portal, slot: str) -> Clinic:
    patient = make_patient(department)
    today = timezone.localtime(timezone.now(), department.tzinfo).date()
    visit = make_appointment(department, patient=patient, date=today, status=Appointment.Status.FUTURE)
    later = make_appointment(department, patient=patient, date=today + dt.timedelta(days=5))
    portal_event_emit(type="patient.updated", department=department, patient=patient, queue_delivery=False)
    submitted = portal.post(
        f"/api/v1/patients/{patient.public_id}/insurances", {"payer_name": "X", "member_id": "ABC123"}
    )
    assert submitted.status_code == 202, submitted.content
    balance = {"kind": "balance", "patient_id": str(patient.public_id), "amount_cents": 4000}
    payment = portal.post("/api/v1/payments", balance)
    assert payment.status_code == 201, payment.content
    return Clinic(
        location=department.athena_department_id,
        patient=str(patient.public_id),
        appointment=later.athena_appointment_id,
        visit=visit.athena_appointment_id,
        slot=slot,
        submission=submitted.json()["id"],
        payment=payment.json()["id"],
    )


@pytest.fixture
def matrix(clinics: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
    boston_portal = make_portal("boston-portal", locations=["1"])
    austin_portal = make_portal("austin-portal", locations=["157"])
    own_slots = open_slots(sandbox, "1", 2)
    other_slots = open_slots(sandbox, "157", 1)
    return {
        "portal": boston_portal,
        OWN: clinic(clinics["boston"], boston_portal, own_slots[0]),
        OTHER: clinic(clinics["austin"], austin_portal, other_slots[0]),
        "spare_slot": own_slots[1],
    }


def references(place: Clinic) -> dict[str, str]:
    return {field.name: getattr(place, field.name) for field in dataclasses.fields(place)}


def test_every_portal_operation_has_a_rule(db: Any) -> None:
    routed = portal_operations()
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    listed = {f"{m.upper()} {p}" for p, ops in schema["paths"].items() if p.startswith(PREFIX) for m in ops}
    assert routed == listed, f"routed but not in the schema: {routed - listed}; in the schema only: {listed - routed}"
    missing = sorted(routed - RULES.keys())
    assert not missing, f"no BOLA rule for {missing}: add to RULES in {__file__} how each names its objects"
    assert not RULES.keys() - routed, f"rules for operations that no longer exist: {sorted(RULES.keys() - routed)}"


@pytest.mark.parametrize("operation", sorted(RULES))
def test_a_portal_reaches_nothing_of_a_clinic_it_was_not_granted(matrix: dict[str, Any], operation: str) -> None:
    portal: Portal = matrix["portal"]
    own, other = references(matrix[OWN]), references(matrix[OTHER])
    names, build = RULES[operation]

    for name in names:
        before = footprint()
        response = send(portal.token, build({**own, name: other[name]}))
        assert response.status_code in NOT_THERE, f"{operation} with another clinic's {name}: {response.status_code}"
        assert response["Content-Type"].startswith("application/problem+json")
        assert footprint() == before, f"{operation} with another clinic's {name} left rows behind"

    # The control: the same request with the portal's own objects works, so the refusals above
    # came from the location check and not from a malformed request.
    if operation.endswith("/reschedule"):
        own = {**own, "slot": matrix["spare_slot"]}  # the own slot may be taken by the booking control
    response = send(portal.token, build(own))
    reached = response.status_code in (200, 201, 202) or (
        response.status_code in (409, 422) and response.json().get("code") in CONTROL_PROBLEMS.get(operation, ())
    )
    assert reached, f"control of {operation}: {response.status_code} {response.content!r}"
    if operation in LISTS_WITHOUT:
        assert LISTS_WITHOUT[operation](response.json(), matrix[OTHER]) == []


def _scoped_token(portal: Portal, scopes: set[str]) -> str:
    response = fetch_token(portal.client_id, portal.secret, " ".join(sorted(scopes)))
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


@pytest.mark.parametrize("operation", sorted(RULES))
def test_a_token_without_the_operations_scope_is_refused(matrix: dict[str, Any], operation: str) -> None:
    from intake.api.urls import urlpatterns

    portal: Portal = matrix["portal"]
    method, path = operation.split(" ", 1)
    view = next(p.callback.view_class for p in urlpatterns if PREFIX + _openapi_path(str(p.pattern)) == path)
    needed = view.scopes.get(method) or view.scopes["*"]
    token = _scoped_token(portal, set(ALL_SCOPES) - {needed})
    before = footprint()
    response = send(token, RULES[operation][1](references(matrix[OWN])))
    assert response.status_code == 403, f"{operation} without {needed}: {response.status_code}"
    assert footprint() == before


@pytest.mark.parametrize("operation", sorted(RULES))
def test_an_expired_unknown_or_disabled_token_is_401(matrix: dict[str, Any], operation: str) -> None:
    portal: Portal = matrix["portal"]
    call = RULES[operation][1](references(matrix[OWN]))
    expired = _scoped_token(portal, set(ALL_SCOPES))
    AccessToken.objects.filter(token=expired).update(expires=timezone.now() - dt.timedelta(seconds=1))
    disabled_portal = make_portal(f"disabled-{uuid.uuid4().hex[:6]}", locations=["1"])
    PortalClient.objects.filter(pk=disabled_portal.pk).update(is_active=False)
    before = footprint()
    for label, token in (("expired", expired), ("unknown", "not-a-token"), ("disabled client", disabled_portal.token)):
        response = send(token, call)
        assert response.status_code == 401, f"{operation} with an {label} token: {response.status_code}"
        assert "Bearer" in response["WWW-Authenticate"]
    assert footprint() == before


# --- mass assignment: fields the portal may not set are ignored (or refused), never stored ------------

PROTECTED = {
    "id": 1,
    "public_id": str(uuid.uuid4()),
    "athena_patient_id": "5001",
    "athena_insurance_id": "777777",
    "status": "deleted",
    "department": 2,
    "department_id": 2,
    "practice": 2,
    "client": 2,
    "all_locations": True,
    "is_cancelled": True,
    "eligibility_status": "active",
    "kind": "check_in",
    "state": "succeeded",
}


def test_registration_ignores_ids_statuses_and_locations_it_may_not_set(portal: Portal) -> None:
    response = portal.post("/api/v1/patients", {**registration(), **PROTECTED})
    assert response.status_code in (202, 400), response.content
    if response.status_code == 400:
        return
    patient = Patient.objects.get(public_id=response.json()["patient_id"])
    assert patient.athena_patient_id is None  # written only by the ledger, from athena's answer
    assert patient.status == Patient.Status.ACTIVE
    assert patient.department.athena_department_id == "1"
    assert str(patient.public_id) != PROTECTED["public_id"]
    assert Submission.objects.get(public_id=response.json()["id"]).kind == "register_patient"


def test_a_demographic_update_cannot_move_relink_or_delete_the_patient(
    portal: Portal, boston_patient: Patient, clinics: dict[str, Any]
) -> None:
    before = Patient.objects.get(pk=boston_patient.pk)
    body = {"email": "new.address@example.test", "location_id": "157", "portal_patient_id": "someone-else", **PROTECTED}
    response = portal.patch(f"/api/v1/patients/{boston_patient.public_id}", body)
    assert response.status_code in (202, 400), response.content
    after = Patient.objects.get(pk=boston_patient.pk)
    assert (after.department_id, after.athena_patient_id, after.status, after.portal_patient_id, after.public_id) == (
        before.department_id,
        before.athena_patient_id,
        before.status,
        before.portal_patient_id,
        before.public_id,
    )
    for intent in WriteIntent.objects.filter(patient=after):
        assert set(intent.target.get("fields", [])) <= {"email"}


def test_an_insurance_cannot_claim_athena_ids_eligibility_or_another_patient(
    portal: Portal, boston_patient: Patient, austin_patient: Patient
) -> None:
    body = {
        "payer_name": "EXAMPLE HEALTH PLAN",
        "member_id": "EXH123450001",
        "patient": austin_patient.pk,
        "patient_id": str(austin_patient.public_id),
        **PROTECTED,
    }
    response = portal.post(f"/api/v1/patients/{boston_patient.public_id}/insurances", body)
    assert response.status_code in (202, 400), response.content
    assert not PatientInsurance.objects.filter(patient=austin_patient).exists()
    for insurance in PatientInsurance.objects.filter(patient=boston_patient):
        assert insurance.athena_insurance_id is None
        assert insurance.eligibility_status != "active" and not insurance.is_cancelled


def test_an_intake_form_lands_on_the_patient_of_its_path_only(
    portal: Portal, boston_patient: Patient, austin_patient: Patient
) -> None:
    body = {"form_name": "history", "answers": {"q": "a"}, "patient": austin_patient.pk, **PROTECTED}
    response = portal.post(f"/api/v1/patients/{boston_patient.public_id}/intake-forms", body)
    assert response.status_code in (202, 400), response.content
    assert not IntakeForm.objects.filter(patient=austin_patient).exists()
