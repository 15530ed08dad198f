"""Translation between athena's records (client dataclasses) and the hub's models."""

from __future__ import annotations

from typing import Any

from hub.integrations.athena.types import (
    AthenaAppointment,
    AthenaDepartment,
    AthenaInsurance,
    AthenaPatient,
    InsuranceWrite,
    PatientWrite,
)
from hub.models import Appointment, Patient, PatientInsurance

# athena's relationshiptoinsuredid codes for the relationships the portal offers.
RELATIONSHIP_TO_ATHENA = {"self": "1", "spouse": "2", "child": "3", "other": "4"}
RELATIONSHIP_FROM_ATHENA = {"self": "self", "spouse": "spouse", "child": "child"}


def department_fields(department: AthenaDepartment) -> dict[str, Any]:
    return {
        "name": department.name,
        "address1": department.address1,
        "address2": department.address2,
        "city": department.city,
        "state": department.state,
        "zip_code": department.zip_code,
        "phone": department.phone,
        "timezone": department.timezone or "America/New_York",
    }


def patient_fields(patient: AthenaPatient) -> dict[str, Any]:
    """The hub Patient fields athena holds (the synced field set of the golden record)."""
    status = patient.status.lower()
    status = {"a": "active", "i": "inactive", "p": "prospective", "d": "deleted"}.get(status, status)
    return {
        "first_name": patient.first_name,
        "middle_name": patient.middle_name,
        "last_name": patient.last_name,
        "preferred_name": patient.preferred_name,
        "dob": patient.dob,
        "sex": patient.sex[:1].upper() if patient.sex else "",
        "email": patient.email,
        "home_phone": patient.home_phone,
        "mobile_phone": patient.mobile_phone,
        "work_phone": patient.work_phone,
        "address1": patient.address1,
        "address2": patient.address2,
        "city": patient.city,
        "state": patient.state,
        "zip_code": patient.zip_code,
        "preferred_language": patient.language[:3],
        "consent_to_text": patient.consent_to_text,
        "consent_to_call": patient.consent_to_call,
        "emergency_contact_name": patient.contact_name,
        "emergency_contact_relationship": patient.contact_relationship,
        "emergency_contact_phone": patient.contact_phone,
        "guarantor_first_name": patient.guarantor_first_name,
        "guarantor_last_name": patient.guarantor_last_name,
        "guarantor_dob": patient.guarantor_dob,
        "guarantor_relationship": patient.guarantor_relationship,
        "status": status if status in Patient.Status.values else Patient.Status.ACTIVE,
    }


def patient_write(patient: Patient, *, only: set[str] | None = None) -> PatientWrite:
    """The athena write for a hub patient (all synced fields, or just `only`)."""
    values: dict[str, Any] = {
        "first_name": patient.first_name,
        "middle_name": patient.middle_name,
        "last_name": patient.last_name,
        "preferred_name": patient.preferred_name,
        "dob": patient.dob,
        "sex": patient.sex if patient.sex in ("M", "F") else "",
        "ssn": patient.ssn,
        "email": patient.email,
        "home_phone": patient.home_phone,
        "mobile_phone": patient.mobile_phone,
        "work_phone": patient.work_phone,
        "address1": patient.address1,
        "address2": patient.address2,
        "city": patient.city,
        "state": patient.state,
        "zip_code": patient.zip_code,
        "language": patient.preferred_language,
        "consent_to_text": patient.consent_to_text,
        "consent_to_call": patient.consent_to_call,
        "contact_name": patient.emergency_contact_name,
        "contact_relationship": patient.emergency_contact_relationship,
        "contact_phone": patient.emergency_contact_phone,
        "guarantor_first_name": patient.guarantor_first_name,
        "guarantor_last_name": patient.guarantor_last_name,
        "guarantor_dob": patient.guarantor_dob,
        "guarantor_relationship": patient.guarantor_relationship,
    }
    hub_to_write = {"emergency_contact_name": "contact_name", "preferred_language": "language"}
    if only is not None:
        wanted = {hub_to_write.get(name, name) for name in only}
        wanted |= {"contact_relationship", "contact_phone"} if "contact_name" in wanted else set()
        values = {key: value for key, value in values.items() if key in wanted}
    return PatientWrite(**values)


def insurance_fields(insurance: AthenaInsurance) -> dict[str, Any]:
    relationship = RELATIONSHIP_FROM_ATHENA.get(insurance.relationship_to_insured.lower(), "other")
    if not insurance.relationship_to_insured:
        relationship = "self"
    return {
        "athena_insurance_package_id": insurance.insurance_package_id,
        "sequence_number": insurance.sequence_number if insurance.sequence_number in (1, 2) else 1,
        "payer_name": insurance.plan_name[:120],
        "plan_name": insurance.plan_name[:120],
        "plan_type": insurance.insurance_type[:30],
        "member_id": insurance.member_id,
        "group_number": insurance.group_number,
        "holder_first_name": insurance.holder_first_name,
        "holder_last_name": insurance.holder_last_name,
        "holder_dob": insurance.holder_dob,
        "holder_sex": insurance.holder_sex[:1],
        "relationship_to_holder": relationship,
        "issue_date": insurance.issue_date,
        "expiration_date": insurance.expiration_date,
        "is_cancelled": insurance.cancelled,
    }


def insurance_write(insurance: PatientInsurance, *, department_id: str) -> InsuranceWrite:
    """athena wants the policy holder on every insurance; when it is the patient, they are the holder."""
    patient = insurance.patient
    is_self = insurance.relationship_to_holder == PatientInsurance.Relationship.SELF
    return InsuranceWrite(
        insurance_package_id=insurance.athena_insurance_package_id,
        sequence_number=insurance.sequence_number,
        member_id=insurance.member_id,
        group_number=insurance.group_number,
        holder_first_name=insurance.holder_first_name or (patient.first_name if is_self else ""),
        holder_last_name=insurance.holder_last_name or (patient.last_name if is_self else ""),
        holder_dob=insurance.holder_dob or (patient.dob if is_self else None),
        holder_sex=insurance.holder_sex or (patient.sex if is_self and patient.sex in ("M", "F") else ""),
        relationship_to_insured_id=RELATIONSHIP_TO_ATHENA.get(insurance.relationship_to_holder, "1"),
        issue_date=insurance.issue_date,
        expiration_date=insurance.expiration_date,
        department_id=department_id,
    )


def appointment_fields(appointment: AthenaAppointment) -> dict[str, Any]:
    status = appointment.status if appointment.status in Appointment.Status.values else Appointment.Status.FUTURE
    return {
        "date": appointment.date,
        "start_time": appointment.start_time,
        "duration_minutes": appointment.duration_minutes,
        "status": status,
        "cancel_reason": appointment.cancel_reason[:200],
        "rescheduled_appointment_id": appointment.rescheduled_appointment_id,
        "athena_last_modified": appointment.last_modified,
    }


# athena's form names of the insurance fields the hub may change on an existing insurance (the payer
# itself is the insurance package: changing it is a new insurance, never an update).
INSURANCE_FORM_NAMES = {
    "member_id": "insuranceidnumber",
    "group_number": "policynumber",
    "holder_first_name": "insurancepolicyholderfirstname",
    "holder_last_name": "insurancepolicyholderlastname",
    "holder_dob": "insurancepolicyholderdob",
    "holder_sex": "insurancepolicyholdersex",
    "relationship_to_holder": "relationshiptoinsuredid",
    "expiration_date": "expirationdate",
}


def insurance_update_form(insurance: PatientInsurance, fields: list[str]) -> dict[str, str]:
    """The PUT form for the named insurance fields (names athena cannot update are left out)."""
    full = insurance_write(insurance, department_id=insurance.patient.department.athena_department_id).to_form()
    wanted = {INSURANCE_FORM_NAMES[name] for name in fields if name in INSURANCE_FORM_NAMES}
    return {key: value for key, value in full.items() if key in wanted}
