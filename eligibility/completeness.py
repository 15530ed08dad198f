"""Intake completeness: which fields athena and the payer need for each operation, as data.

The intake dict is plain data shaped like this (every key optional):

    {"patient": {"first_name", "last_name", "dob", "sex", "email", "phone", "zip", "ssn",
                 "address1", "city", "state"},
     "department_id": ...,
     "insurance": {"payer_name", "payer_id", "insurance_package_id", "member_id", "group_number",
                   "sequence_number", "relationship_to_subscriber" ("self", "spouse", "child", "other"),
                   "subscriber": {"first_name", "last_name", "dob", "sex"}},
     "appointment": {"department_id", "provider_id", "appointment_type_id", "reason_id", "date",
                     "time", "slot_id"},
     "provider": {"npi"},
     "date_of_service": ...}

A write-back runs only when ``missing_fields(operation, intake)`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REGISTER_PATIENT = "register_patient"
ADD_INSURANCE = "add_insurance"
BOOK_APPOINTMENT = "book_appointment"
CHECK_ELIGIBILITY = "check_eligibility"


@dataclass(frozen=True)
class Requirement:
    """One needed field, or one of several (``any_of``), with a label staff understand.

    ``unless`` skips the requirement when the field at that path has that value (e.g. holder fields
    are not needed when the patient is the policy holder).
    """

    paths: tuple[str, ...]
    label: str
    unless: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class MissingField:
    """A field an operation needs that the intake does not have."""

    field: str
    label: str


_NOT_SELF = ("insurance.relationship_to_subscriber", ("self", "18"))

REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    # athena POST /patients: firstname, lastname, dob, departmentid and one contact or identifier.
    REGISTER_PATIENT: (
        Requirement(("patient.first_name",), "Patient first name"),
        Requirement(("patient.last_name",), "Patient last name"),
        Requirement(("patient.dob",), "Patient date of birth"),
        Requirement(("department_id", "appointment.department_id"), "Clinic (department)"),
        Requirement(
            ("patient.email", "patient.phone", "patient.zip", "patient.ssn"),
            "One of: email, phone number, ZIP code or SSN",
        ),
    ),
    # athena POST /patients/{id}/insurances: a package (or the payer to find one), the member id,
    # primary/secondary, and the policy holder unless the patient is the holder.
    ADD_INSURANCE: (
        Requirement(
            ("insurance.insurance_package_id", "insurance.payer_id", "insurance.payer_name"), "Insurance payer"
        ),
        Requirement(("insurance.member_id",), "Member ID"),
        Requirement(("insurance.sequence_number",), "Primary or secondary insurance"),
        Requirement(("insurance.relationship_to_subscriber",), "Patient's relationship to the policy holder"),
        Requirement(("insurance.subscriber.first_name",), "Policy holder first name", unless=_NOT_SELF),
        Requirement(("insurance.subscriber.last_name",), "Policy holder last name", unless=_NOT_SELF),
        Requirement(("insurance.subscriber.dob",), "Policy holder date of birth", unless=_NOT_SELF),
        Requirement(("insurance.subscriber.sex",), "Policy holder sex", unless=_NOT_SELF),
    ),
    # athena PUT /appointments/{id}: an open slot, the patient, and a reason or appointment type.
    BOOK_APPOINTMENT: (
        Requirement(("appointment.slot_id",), "Appointment slot"),
        Requirement(("appointment.department_id", "department_id"), "Clinic (department)"),
        Requirement(("appointment.reason_id", "appointment.appointment_type_id"), "Visit reason or appointment type"),
        Requirement(("patient.first_name",), "Patient first name"),
        Requirement(("patient.last_name",), "Patient last name"),
        Requirement(("patient.dob",), "Patient date of birth"),
    ),
    # The 270: payer id, provider NPI, member id, subscriber name and DOB, the patient when a
    # dependent, and the date of service.
    CHECK_ELIGIBILITY: (
        Requirement(("insurance.payer_id",), "Payer ID"),
        Requirement(("provider.npi",), "Provider NPI"),
        Requirement(("insurance.member_id",), "Member ID"),
        Requirement(("patient.first_name",), "Patient first name"),
        Requirement(("patient.last_name",), "Patient last name"),
        Requirement(("patient.dob",), "Patient date of birth"),
        Requirement(("insurance.relationship_to_subscriber",), "Patient's relationship to the policy holder"),
        Requirement(("insurance.subscriber.first_name",), "Policy holder first name", unless=_NOT_SELF),
        Requirement(("insurance.subscriber.last_name",), "Policy holder last name", unless=_NOT_SELF),
        Requirement(("insurance.subscriber.dob",), "Policy holder date of birth", unless=_NOT_SELF),
        Requirement(("date_of_service", "appointment.date"), "Date of service"),
    ),
}
OPERATIONS = tuple(REQUIREMENTS)


def missing_fields(operation: str, intake: Mapping[str, Any]) -> list[MissingField]:
    """The fields ``operation`` needs that ``intake`` lacks, in a stable order; empty when complete."""
    if operation not in REQUIREMENTS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    missing: list[MissingField] = []
    for requirement in REQUIREMENTS[operation]:
        if requirement.unless is not None:
            path, values = requirement.unless
            if _normalized(lookup(intake, path)) in values:
                continue
        if not any(_present(lookup(intake, path)) for path in requirement.paths):
            missing.append(MissingField(field=requirement.paths[0], label=requirement.label))
    return missing


def missing_labels(operation: str, intake: Mapping[str, Any]) -> list[str]:
    """Just the human-readable labels of ``missing_fields``."""
    return [item.label for item in missing_fields(operation, intake)]


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` in nested dicts, or None."""
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, list | dict | tuple) and not value)


def _normalized(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""
