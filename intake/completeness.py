"""Is a portal submission complete enough for athena to accept it? (athena's `missingfields`, up front.)"""

from __future__ import annotations

from typing import Any

CONTACT_FIELDS = ("email", "home_phone", "mobile_phone", "work_phone", "zip_code", "ssn")
LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "dob": "date of birth",
    "contact": "an email, phone number, ZIP code or SSN",
    "insurance_package_id": "the athena insurance package (payer plan)",
    "member_id": "member id",
    "holder_first_name": "policy holder's first name",
    "holder_last_name": "policy holder's last name",
    "holder_dob": "policy holder's date of birth",
    "holder_sex": "policy holder's sex",
}


def missing_fields(operation: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields athena would report as missing for this operation, as (name, label) pairs."""
    missing: list[str] = []
    if operation == "register_patient":
        missing += [name for name in ("first_name", "last_name", "dob") if not values.get(name)]
        if not any(values.get(name) for name in CONTACT_FIELDS):
            missing.append("contact")
    elif operation == "add_insurance":
        missing += [name for name in ("member_id", "insurance_package_id") if not values.get(name)]
        if values.get("relationship_to_holder", "self") != "self":
            holder = ("holder_first_name", "holder_last_name", "holder_dob", "holder_sex")
            missing += [name for name in holder if not values.get(name)]
    return [(name, LABELS.get(name, name.replace("_", " "))) for name in missing]
