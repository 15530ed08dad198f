"""Dataclasses the athena client returns and accepts; athena's wire names stay inside `from_api`/`to_form`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from hub.integrations.athena.coerce import (
    from_bool,
    from_date,
    to_bool,
    to_date,
    to_datetime,
    to_int,
    to_str,
    to_time,
)


@dataclass(frozen=True)
class AthenaDepartment:
    department_id: str
    name: str
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    phone: str = ""
    timezone: str = ""
    provider_ids: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaDepartment:
        providers = data.get("providerlist") or []
        if isinstance(providers, str):
            providers = [part for part in providers.split(",") if part]
        return cls(
            provider_ids=tuple(to_str(p) for p in providers) if isinstance(providers, list) else (),
            department_id=to_str(data.get("departmentid")),
            name=to_str(data.get("name") or data.get("patientdepartmentname")),
            address1=to_str(data.get("address")),
            address2=to_str(data.get("address2")),
            city=to_str(data.get("city")),
            state=to_str(data.get("state")),
            zip_code=to_str(data.get("zip")),
            phone=to_str(data.get("phone")),
            timezone=_iana_zone(to_str(data.get("timezonename"))),
        )


# athena names zones the old tz way ("US/Eastern"); the hub stores IANA names.
_LEGACY_ZONES = {
    "US/Eastern": "America/New_York",
    "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver",
    "US/Arizona": "America/Phoenix",
    "US/Pacific": "America/Los_Angeles",
    "US/Alaska": "America/Anchorage",
    "US/Hawaii": "Pacific/Honolulu",
}


def _iana_zone(name: str) -> str:
    return _LEGACY_ZONES.get(name, name)


@dataclass(frozen=True)
class AthenaProvider:
    provider_id: str
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    npi: str = ""
    specialty: str = ""
    department_ids: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaProvider:
        # athena names a provider's home department by name; their departments come from each
        # department's provider list (GET /departments?providerlist=true).
        departments = data.get("departmentids") or []
        if isinstance(departments, str):
            departments = [part for part in departments.split(",") if part]
        ids = tuple(dict.fromkeys(to_str(d) for d in departments))
        return cls(
            provider_id=to_str(data.get("providerid")),
            first_name=to_str(data.get("firstname")),
            last_name=to_str(data.get("lastname")),
            display_name=to_str(data.get("displayname")),
            npi=to_str(data.get("npi")),
            specialty=to_str(data.get("specialty")),
            department_ids=ids,
        )


@dataclass(frozen=True)
class AthenaAppointmentType:
    appointment_type_id: str
    name: str
    short_name: str = ""
    duration_minutes: int = 15
    is_patient_facing: bool = True

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaAppointmentType:
        return cls(
            appointment_type_id=to_str(data.get("appointmenttypeid")),
            name=to_str(data.get("name")),
            short_name=to_str(data.get("shortname")),
            duration_minutes=to_int(data.get("duration"), 15) or 15,
            is_patient_facing=to_bool(data.get("patient"), True),
        )


@dataclass(frozen=True)
class AthenaReason:
    reason_id: str
    name: str
    description: str = ""
    reason_type: str = "all"
    scheduling_min_hours: int = 24
    scheduling_max_days: int = 90

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaReason:
        return cls(
            reason_id=to_str(data.get("reasonid")),
            name=to_str(data.get("reason")),
            description=to_str(data.get("description")),
            reason_type=to_str(data.get("reasontype")) or "all",
            scheduling_min_hours=to_int(data.get("schedulingminhours"), 24) or 0,
            scheduling_max_days=to_int(data.get("schedulingmaxdays"), 90) or 90,
        )


@dataclass(frozen=True)
class AthenaInsurancePackage:
    insurance_package_id: str
    name: str
    payer_name: str = ""
    payer_id: str = ""
    insurance_type: str = ""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaInsurancePackage:
        return cls(
            insurance_package_id=to_str(data.get("insurancepackageid")),
            name=to_str(data.get("name") or data.get("insuranceplanname")),
            payer_name=to_str(data.get("payername") or data.get("ircname")),
            payer_id=to_str(data.get("payerid")),
            insurance_type=to_str(data.get("insurancetype")),
        )


@dataclass(frozen=True)
class AthenaPatient:
    patient_id: str
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    preferred_name: str = ""
    dob: dt.date | None = None
    sex: str = ""
    ssn: str = ""
    email: str = ""
    home_phone: str = ""
    mobile_phone: str = ""
    work_phone: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    department_id: str = ""
    status: str = ""
    language: str = ""
    consent_to_text: bool = False
    consent_to_call: bool = False
    contact_name: str = ""
    contact_relationship: str = ""
    contact_phone: str = ""
    guarantor_first_name: str = ""
    guarantor_last_name: str = ""
    guarantor_dob: dt.date | None = None
    guarantor_relationship: str = ""
    last_modified: dt.datetime | None = None
    score: int | None = None
    insurances: tuple[AthenaInsurance, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaPatient:
        def read(attribute: str) -> Any:
            value = data.get(PATIENT_WIRE_NAMES[attribute])
            if attribute in PATIENT_DATE_FIELDS:
                return to_date(value)
            if attribute in PATIENT_BOOL_FIELDS:
                return to_bool(value)
            return to_str(value)

        shared = {name: read(name) for name in PATIENT_WIRE_NAMES if name not in PATIENT_READ_OVERRIDES}
        return cls(
            patient_id=to_str(data.get("patientid")),
            department_id=to_str(data.get("primarydepartmentid") or data.get("departmentid")),
            contact_phone=to_str(data.get("contactmobilephone") or data.get("contacthomephone")),
            status=to_str(data.get("status")),
            last_modified=to_datetime(data.get("lastupdated") or data.get("lastmodified")),
            score=to_int(data.get("score")),
            insurances=tuple(AthenaInsurance.from_api(item) for item in data.get("insurances") or []),
            **shared,
        )


# The hub's names for athena's patient fields (reads and writes use the same table).
PATIENT_WIRE_NAMES = {
    "first_name": "firstname",
    "middle_name": "middlename",
    "last_name": "lastname",
    "preferred_name": "preferredname",
    "dob": "dob",
    "sex": "sex",
    "ssn": "ssn",
    "email": "email",
    "home_phone": "homephone",
    "mobile_phone": "mobilephone",
    "work_phone": "workphone",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "zip_code": "zip",
    "department_id": "departmentid",
    "language": "language6392code",
    "consent_to_text": "consenttotext",
    "consent_to_call": "consenttocall",
    "contact_name": "contactname",
    "contact_relationship": "contactrelationship",
    "contact_phone": "contactmobilephone",
    "guarantor_first_name": "guarantorfirstname",
    "guarantor_last_name": "guarantorlastname",
    "guarantor_dob": "guarantordob",
    "guarantor_relationship": "guarantorrelationshiptopatient",
    "notes": "notes",
}
PATIENT_DATE_FIELDS = {"dob", "guarantor_dob"}
PATIENT_BOOL_FIELDS = {"consent_to_text", "consent_to_call"}
# Read differently from how they are written (fallback keys), or written only.
PATIENT_READ_OVERRIDES = {"department_id", "contact_phone", "notes"}


@dataclass(frozen=True)
class PatientWrite:
    """Fields the hub writes to athena's patient record; empty values are not sent."""

    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    preferred_name: str = ""
    dob: dt.date | None = None
    sex: str = ""
    ssn: str = ""
    email: str = ""
    home_phone: str = ""
    mobile_phone: str = ""
    work_phone: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    department_id: str = ""
    language: str = ""
    consent_to_text: bool | None = None
    consent_to_call: bool | None = None
    contact_name: str = ""
    contact_relationship: str = ""
    contact_phone: str = ""
    guarantor_first_name: str = ""
    guarantor_last_name: str = ""
    guarantor_dob: dt.date | None = None
    guarantor_relationship: str = ""
    notes: str = ""

    def to_form(self) -> dict[str, str]:
        form: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                form[PATIENT_WIRE_NAMES[item.name]] = from_bool(value)
            elif isinstance(value, dt.date):
                form[PATIENT_WIRE_NAMES[item.name]] = from_date(value)
            else:
                form[PATIENT_WIRE_NAMES[item.name]] = str(value)
        return form


@dataclass(frozen=True)
class AthenaInsurance:
    insurance_id: str
    insurance_package_id: str = ""
    sequence_number: int = 1
    member_id: str = ""
    group_number: str = ""
    plan_name: str = ""
    insurance_type: str = ""
    holder_first_name: str = ""
    holder_last_name: str = ""
    holder_dob: dt.date | None = None
    holder_sex: str = ""
    relationship_to_insured: str = ""
    issue_date: dt.date | None = None
    expiration_date: dt.date | None = None
    cancelled: bool = False
    eligibility_status: str = ""
    eligibility_last_checked: dt.date | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaInsurance:
        cancelled = data.get("cancelled")
        return cls(
            insurance_id=to_str(data.get("insuranceid")),
            insurance_package_id=to_str(data.get("insurancepackageid")),
            sequence_number=to_int(data.get("sequencenumber"), 1) or 1,
            member_id=to_str(data.get("insuranceidnumber")),
            group_number=to_str(data.get("policynumber")),
            plan_name=to_str(data.get("insuranceplanname") or data.get("insuranceplandisplayname")),
            insurance_type=to_str(data.get("insurancetype")),
            holder_first_name=to_str(data.get("insurancepolicyholderfirstname")),
            holder_last_name=to_str(data.get("insurancepolicyholderlastname")),
            holder_dob=to_date(data.get("insurancepolicyholderdob")),
            holder_sex=to_str(data.get("insurancepolicyholdersex")),
            relationship_to_insured=to_str(data.get("relationshiptoinsured")),
            issue_date=to_date(data.get("issuedate")),
            expiration_date=to_date(data.get("expirationdate")),
            # athena marks a cancelled insurance with a date or a flag, depending on the year.
            cancelled=bool(cancelled) and (to_date(cancelled) is not None or to_bool(cancelled)),
            eligibility_status=to_str(data.get("eligibilitystatus")),
            eligibility_last_checked=to_date(data.get("eligibilitylastchecked")),
        )


@dataclass(frozen=True)
class InsuranceWrite:
    insurance_package_id: str
    sequence_number: int
    member_id: str
    group_number: str = ""
    holder_first_name: str = ""
    holder_last_name: str = ""
    holder_dob: dt.date | None = None
    holder_sex: str = ""
    relationship_to_insured_id: str = "1"  # athena: 1 = self
    issue_date: dt.date | None = None
    expiration_date: dt.date | None = None
    department_id: str = ""

    def to_form(self) -> dict[str, str]:
        form = {
            "insurancepackageid": self.insurance_package_id,
            "sequencenumber": str(self.sequence_number),
            "insuranceidnumber": self.member_id,
            "policynumber": self.group_number,
            "insurancepolicyholderfirstname": self.holder_first_name,
            "insurancepolicyholderlastname": self.holder_last_name,
            "insurancepolicyholderdob": from_date(self.holder_dob),
            "insurancepolicyholdersex": self.holder_sex,
            "relationshiptoinsuredid": self.relationship_to_insured_id,
            "issuedate": from_date(self.issue_date),
            "expirationdate": from_date(self.expiration_date),
            "departmentid": self.department_id,
        }
        return {key: value for key, value in form.items() if value}


@dataclass(frozen=True)
class AthenaAppointment:
    appointment_id: str
    status: str = ""
    date: dt.date | None = None
    start_time: dt.time | None = None
    duration_minutes: int = 15
    department_id: str = ""
    provider_id: str = ""
    patient_id: str = ""
    appointment_type_id: str = ""
    appointment_type: str = ""
    reason_ids: tuple[str, ...] = ()
    cancel_reason: str = ""
    rescheduled_appointment_id: str = ""
    last_modified: dt.datetime | None = None
    checkin_at: dt.datetime | None = None
    copay_cents: int | None = None  # the visit's expected copay; None when athena does not say

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AthenaAppointment:
        reasons = data.get("reasonid") or []
        if not isinstance(reasons, list):
            reasons = [reasons]
        return cls(
            appointment_id=to_str(data.get("appointmentid")),
            status=to_str(data.get("appointmentstatus")) or "o",
            date=to_date(data.get("date")),
            start_time=to_time(data.get("starttime")),
            duration_minutes=to_int(data.get("duration"), 15) or 15,
            department_id=to_str(data.get("departmentid")),
            provider_id=to_str(data.get("providerid")),
            patient_id=to_str(data.get("patientid")),
            appointment_type_id=to_str(data.get("appointmenttypeid")),
            appointment_type=to_str(data.get("appointmenttype") or data.get("patientappointmenttypename")),
            reason_ids=tuple(to_str(r) for r in reasons),
            cancel_reason=to_str(data.get("cancelreasonname")),
            rescheduled_appointment_id=to_str(data.get("rescheduledappointmentid")),
            last_modified=to_datetime(data.get("lastmodified")),
            checkin_at=to_datetime(data.get("checkindatetime")),
            copay_cents=_copay_cents(data),
        )


def _copay_cents(data: dict[str, Any]) -> int | None:
    """athena's copay in dollars ("25", 25, "25.00", or `appointmentcopay.insurancecopay`) as integer cents."""
    nested = data.get("appointmentcopay")
    value = data.get("copay")
    if value in (None, "") and isinstance(nested, dict):
        value = nested.get("insurancecopay")
    if value in (None, "") or isinstance(value, bool):
        return None
    text = str(value).strip().lstrip("$").replace(",", "")
    try:
        return int((Decimal(text) * 100).to_integral_value(rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class BenefitDetails:
    ansi271: str
    date_of_service: dt.date | None
    last_check_date: dt.date | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> BenefitDetails:
        return cls(
            ansi271=to_str(data.get("ansi271")),
            date_of_service=to_date(data.get("dateofservice")),
            last_check_date=to_date(data.get("lastcheckdate")),
        )


@dataclass(frozen=True)
class SubscriptionStatus:
    status: str
    event_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return self.status.upper() in {"ACTIVE", "PARTIAL"}
