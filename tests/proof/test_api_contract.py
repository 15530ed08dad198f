"""What the API fuzzing found, pinned: the schema says what the API does, and bad input is a clear 4xx.

Each test is one finding of `test_api_fuzz.py`, kept as a plain example so it fails by name if it
comes back.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.api import serializers as s
from tests.api.conftest import Portal
from tests.conftest import Sandbox
from tests.factories import make_appointment

PROBLEM = "application/problem+json"
SLOTS = "/api/v1/slots?location_id=1&appointment_type_id=2"


@pytest.fixture
def schema(db: Any) -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return dict(response.json())


def test_every_portal_operation_documents_its_problem_answers(schema: dict[str, Any]) -> None:
    operations = [(p, m, op) for p, ops in schema["paths"].items() if p.startswith("/api/v1/") for m, op in ops.items()]
    assert len(operations) >= 13
    for path, method, operation in operations:
        expected = {"400", "401", "403", "404"} | ({"409", "422"} if method in ("post", "patch", "put") else set())
        responses = operation["responses"]
        documented = {code for code, response in responses.items() if PROBLEM in response.get("content", {})}
        assert expected <= documented, f"{method.upper()} {path} leaves out {sorted(expected - documented)}"
    assert set(schema["components"]["schemas"]["Problem"]["required"]) >= {"status", "code", "detail"}


def test_times_of_day_are_documented_as_the_local_clock_strings_they_are(
    schema: dict[str, Any], portal: Portal, boston_patient: Any, clinics: dict[str, Any]
) -> None:
    import datetime as dt

    make_appointment(clinics["boston"], patient=boston_patient, date=dt.date.today() + dt.timedelta(days=2))  # noqa: DTZ011
    shown = portal.get(f"/api/v1/patients/{boston_patient.public_id}").json()["appointments"][0]["start_time"]
    documented = schema["components"]["schemas"]["SlotOut"]["properties"]["start_time"]
    assert "format" not in documented  # an RFC 3339 `time` needs an offset, which a clinic's clock has not
    assert re.search(documented["pattern"], shown) and shown == "09:00:00"


def test_a_slot_search_athena_refuses_is_422_and_athena_down_is_503(portal: Portal, sandbox: Sandbox) -> None:
    rule = {"route": "/v1/{practiceid}/appointments/open", "kind": "error_before"}
    sandbox.configure(faults={"rules": [rule], "error_status": 400})
    refused = portal.get(SLOTS)
    assert refused.status_code == 422 and refused.json()["code"] == "athena-rejected-search"  # retrying cannot help
    sandbox.configure(faults={"rules": [rule], "error_status": 503})
    down = portal.get(SLOTS)
    assert down.status_code == 503 and down.json()["code"] == "athena-unavailable"


def test_a_slot_search_before_1900_is_refused_without_asking_athena(portal: Portal, sandbox: Sandbox) -> None:
    response = portal.get(SLOTS + "&start=0696-05-31&end=0696-06-02")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"start"}
    assert sandbox.requests(route="/v1/{practiceid}/appointments/open") == []


def test_a_write_without_an_idempotency_key_is_refused_before_any_lookup(
    portal: Portal, sandbox: Sandbox, austin_patient: Any
) -> None:
    booking = {"patient_id": str(austin_patient.public_id), "slot_id": "1000055", "location_id": "1"}
    response = portal.post("/api/v1/appointments", {**booking, "appointment_type_id": "2"}, key=None)
    assert response.status_code == 400 and response.json()["code"] == "idempotency-key-missing"
    assert sandbox.requests(system="athena") == []  # not even the slot was looked up


@pytest.mark.parametrize(
    "query",
    ["after=1&after=2", "limit=", "after=&limit=5", "limit=10&limit=false"],
)
def test_repeated_or_empty_query_parameters_are_refused_not_defaulted(portal: Portal, query: str) -> None:
    response = portal.http.get(f"/api/v1/events?{query}", **portal.headers())
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/api/v1/patients", "portal_patient_id", 0),
        ("/api/v1/patients", "consent_to_text", "true"),
        ("/api/v1/patients", "location_id", 1),
        ("insurances", "sequence_number", "1"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_coerced(
    portal: Portal, boston_patient: Any, path: str, field: str, value: Any
) -> None:
    from tests.api.conftest import registration

    if path == "insurances":
        path = f"/api/v1/patients/{boston_patient.public_id}/insurances"
        body = {"payer_name": "EXAMPLE HEALTH PLAN", "member_id": "EXH123456", field: value}
    else:
        body = {**registration(), field: value}
    response = portal.post(path, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_a_form_encoded_body_is_refused(portal: Portal) -> None:
    response = portal.http.post(
        "/api/v1/patients",
        "first_name=Avery&last_name=Testwood",
        content_type="application/x-www-form-urlencoded",
        **portal.headers("form-encoded-key-0001"),
    )
    assert response.status_code == 415


def test_a_name_of_spaces_longer_than_the_limit_is_refused(portal: Portal) -> None:
    from tests.api.conftest import registration

    response = portal.post("/api/v1/patients", registration(guarantor_last_name=" " * 61))
    assert response.status_code == 400 and "guarantor_last_name" in response.json()["errors"]


def test_digits_of_other_scripts_are_not_taken_for_a_phone_or_ssn(portal: Portal) -> None:
    from tests.api.conftest import registration

    arabic_indic = "٥٥٥٠١٠١٢٣٤"
    response = portal.post("/api/v1/patients", registration(mobile_phone=arabic_indic, ssn="٩٠٠-١٢-٣٤٥٦"))
    assert response.status_code == 400
    assert {"mobile_phone", "ssn"} <= set(response.json()["errors"])


def test_an_intake_form_may_leave_a_question_unanswered(portal: Portal, boston_patient: Any) -> None:
    body = {"form_name": "health-history", "answers": {"allergies": "none", "surgeries": None}}
    response = portal.post(f"/api/v1/patients/{boston_patient.public_id}/intake-forms", body)
    assert response.status_code == 202, response.content


def _accepts(field: Any, value: str) -> bool:
    from rest_framework.exceptions import ValidationError

    try:
        field.run_validation(value)
    except ValidationError:
        return False
    return True


def _schema_pattern(field: Any) -> str:
    from django.core.validators import RegexValidator

    return next(v.regex.pattern for v in field.validators if isinstance(v, RegexValidator))


TEXT = st.text(st.sampled_from(list("ab -'.1٣:\n\t\x0b\x85 é*")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(value=TEXT, blank=st.booleans())
def test_the_schema_pattern_of_a_name_accepts_exactly_what_the_api_accepts(value: str, blank: bool) -> None:
    field = s.NameField(allow_blank=blank)
    assert bool(re.search(_schema_pattern(field), value)) == _accepts(field, value), repr(value)


@settings(max_examples=300, deadline=None)
@given(value=st.text(st.sampled_from(list("0123456789 -()+.٣x\n")), max_size=20))
def test_the_schema_pattern_of_a_phone_accepts_exactly_what_the_api_accepts(value: str) -> None:
    field = s.PhoneField(required=False, allow_blank=True)
    assert bool(re.search(_schema_pattern(field), value)) == _accepts(field, value), repr(value)


@settings(max_examples=300, deadline=None)
@given(value=st.text(st.sampled_from(list("clv_ab-9 \n٣x")), max_size=16))
def test_the_schema_pattern_of_a_card_token_accepts_what_the_api_accepts(value: str) -> None:
    from intake.api.payment_serializers import LOOKS_LIKE_CARD_NUMBER, CardTokenField

    field = CardTokenField(max_length=130)
    if LOOKS_LIKE_CARD_NUMBER.search(value):
        return  # refused unseen whatever its shape: a rule the schema cannot state
    assert bool(re.search(_schema_pattern(field), value)) == _accepts(field, value), repr(value)
