"""Intake completeness: what each operation still needs, in words staff understand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eligibility.completeness import OPERATIONS, missing_fields, missing_labels

COMPLETE: dict[str, Any] = {
    "department_id": "162",
    "patient": {"first_name": "Jane", "last_name": "Doe", "dob": "1980-02-14", "sex": "F", "zip": "02139"},
    "insurance": {
        "payer_id": "EX001",
        "payer_name": "Example Health Plan",
        "member_id": "ZZX123456789",
        "sequence_number": 1,
        "relationship_to_subscriber": "self",
    },
    "appointment": {"slot_id": "2204083", "department_id": "162", "reason_id": "962", "date": "2026-01-15"},
    "provider": {"npi": "1999999984"},
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_complete_intake_misses_nothing(operation: str) -> None:
    assert missing_fields(operation, COMPLETE) == []


def test_registration_needs_one_contact_or_identifier() -> None:
    intake = copy.deepcopy(COMPLETE)
    del intake["patient"]["zip"]
    assert missing_labels("register_patient", intake) == ["One of: email, phone number, ZIP code or SSN"]
    intake["patient"]["email"] = "jane@example.test"
    assert missing_labels("register_patient", intake) == []


def test_empty_intake_lists_every_registration_field_in_order() -> None:
    assert missing_labels("register_patient", {}) == [
        "Patient first name",
        "Patient last name",
        "Patient date of birth",
        "Clinic (department)",
        "One of: email, phone number, ZIP code or SSN",
    ]


def test_policy_holder_is_needed_only_when_the_patient_is_not_the_holder() -> None:
    intake = copy.deepcopy(COMPLETE)
    intake["insurance"]["relationship_to_subscriber"] = "child"
    intake["insurance"]["subscriber"] = {"first_name": "John", "last_name": " ", "dob": None}
    missing = missing_fields("add_insurance", intake)
    assert [(m.field, m.label) for m in missing] == [
        ("insurance.subscriber.last_name", "Policy holder last name"),
        ("insurance.subscriber.dob", "Policy holder date of birth"),
        ("insurance.subscriber.sex", "Policy holder sex"),
    ]


def test_eligibility_needs_payer_npi_member_and_date_of_service() -> None:
    intake = copy.deepcopy(COMPLETE)
    del intake["provider"]
    intake["insurance"]["member_id"] = ""
    del intake["appointment"]["date"]
    assert missing_labels("check_eligibility", intake) == ["Provider NPI", "Member ID", "Date of service"]


def test_insurance_package_alone_identifies_the_payer() -> None:
    intake = copy.deepcopy(COMPLETE)
    intake["insurance"] = {**intake["insurance"], "payer_id": None, "payer_name": "", "insurance_package_id": 5521}
    assert missing_labels("add_insurance", intake) == []


def test_booking_needs_a_reason_or_type() -> None:
    intake = copy.deepcopy(COMPLETE)
    del intake["appointment"]["reason_id"]
    assert missing_labels("book_appointment", intake) == ["Visit reason or appointment type"]
    intake["appointment"]["appointment_type_id"] = "44"
    assert missing_labels("book_appointment", intake) == []


def test_unknown_operation_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        missing_fields("delete_patient", COMPLETE)
