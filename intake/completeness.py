"""Is a portal submission complete enough for athena to accept it? (athena's `missingfields`, up front.)

The rules live in `eligibility.completeness`; this module translates the portal API's field names
into its intake shape and its answers back into the names the portal sent.
"""

from __future__ import annotations

from typing import Any

from eligibility.completeness import missing_fields as required_missing

# eligibility.completeness path → the portal API's field name
API_NAMES = {
    "patient.first_name": "first_name",
    "patient.last_name": "last_name",
    "patient.dob": "dob",
    "department_id": "location_id",
    "patient.email": "contact",
    "insurance.insurance_package_id": "payer_name",
    "insurance.member_id": "member_id",
    "insurance.sequence_number": "sequence_number",
    "insurance.relationship_to_subscriber": "relationship_to_holder",
    "insurance.subscriber.first_name": "holder_first_name",
    "insurance.subscriber.last_name": "holder_last_name",
    "insurance.subscriber.dob": "holder_dob",
    "insurance.subscriber.sex": "holder_sex",
}


def _intake(operation: str, values: dict[str, Any]) -> dict[str, Any]:
    patient = {
        "first_name": values.get("first_name"),
        "last_name": values.get("last_name"),
        "dob": values.get("dob"),
        "email": values.get("email"),
        "phone": values.get("mobile_phone") or values.get("home_phone") or values.get("work_phone"),
        "zip": values.get("zip_code"),
        "ssn": values.get("ssn"),
    }
    insurance = {
        "insurance_package_id": values.get("insurance_package_id"),
        "payer_name": values.get("payer_name"),
        "payer_id": values.get("payer_id"),
        "member_id": values.get("member_id"),
        "sequence_number": values.get("sequence_number"),
        "relationship_to_subscriber": values.get("relationship_to_holder"),
        "subscriber": {
            "first_name": values.get("holder_first_name"),
            "last_name": values.get("holder_last_name"),
            "dob": values.get("holder_dob"),
            "sex": values.get("holder_sex"),
        },
    }
    return {"patient": patient, "department_id": values.get("location_id", "known"), "insurance": insurance}


def missing_fields(operation: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields athena would report as missing for this operation, as (API field name, label) pairs."""
    return [
        (API_NAMES.get(item.field, item.field.rsplit(".", 1)[-1]), item.label)
        for item in required_missing(operation, _intake(operation, values))
    ]
