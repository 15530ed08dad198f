"""What a check asks, read from the hub's rows: route, service type, provider, payer, the 270 request.

Reads only; nothing here writes or calls out. Values are PHI and stay in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from eligibility.x12 import Dependent, EligibilityRequest, Payer, Provider, Subscriber
from eligibility.x12.request import npi_is_valid
from hub.models import Appointment, InsurancePackage, Patient, PatientInsurance

# The 270's relationship codes (INS02) for the hub's relationships of the patient to the holder.
RELATIONSHIP_CODES = {"spouse": "01", "child": "19", "other": "34"}


@dataclass(frozen=True)
class Asker:
    """Who asks: the practice's name and the NPI of the visit's provider (or the practice's)."""

    name: str
    npi: str


def service_type_for(appointment: Appointment | None) -> str:
    """The X12 service type a visit is about (EQ01); configurable per athena appointment type."""
    by_type: dict[str, str] = settings.ELIGIBILITY_SERVICE_TYPE_BY_APPOINTMENT_TYPE
    if appointment is not None and appointment.appointment_type is not None:
        code = by_type.get(appointment.appointment_type.athena_appointment_type_id)
        if code:
            return code
    return str(settings.ELIGIBILITY_SERVICE_TYPE)


def payer_id_for(insurance: PatientInsurance) -> str:
    """The clearinghouse payer id: on the insurance, else on its athena insurance package."""
    if insurance.payer_id:
        return insurance.payer_id
    if insurance.athena_insurance_package_id:
        package = InsurancePackage.objects.filter(
            practice_id=insurance.patient.practice_id,
            athena_insurance_package_id=insurance.athena_insurance_package_id,
        ).first()
        if package is not None:
            return package.payer_id
    return ""


def route_for(insurance: PatientInsurance) -> str:
    """The route of a new check: per payer, else the default; athena can only check what it holds."""
    by_payer: dict[str, str] = settings.ELIGIBILITY_ROUTE_BY_PAYER
    route = by_payer.get(payer_id_for(insurance), settings.ELIGIBILITY_ROUTE)
    if route == "athena" and not (insurance.athena_insurance_id and insurance.patient.athena_patient_id):
        return "clearinghouse"
    return "athena" if route == "athena" else "clearinghouse"


def asker_for(patient: Patient, appointment: Appointment | None) -> Asker:
    """The provider loop of the 270: the visit's provider NPI, else one of the clinic's, else the default."""
    candidates: list[str] = []
    if appointment is not None and appointment.provider is not None:
        candidates.append(appointment.provider.npi)
    candidates += list(patient.department.providers.exclude(npi="").values_list("npi", flat=True)[:5])
    candidates.append(settings.ELIGIBILITY_DEFAULT_NPI)
    npi = next((value for value in candidates if value and npi_is_valid(value)), "")
    return Asker(name=patient.practice.name, npi=npi)


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def holder_of(insurance: PatientInsurance) -> dict[str, Any]:
    """The policy holder: the patient when self-insured (and the holder fields are empty)."""
    patient = insurance.patient
    is_self = insurance.relationship_to_holder == PatientInsurance.Relationship.SELF
    return {
        "first_name": insurance.holder_first_name or (patient.first_name if is_self else ""),
        "last_name": insurance.holder_last_name or (patient.last_name if is_self else ""),
        "dob": _iso(insurance.holder_dob or (patient.dob if is_self else None)),
        "sex": insurance.holder_sex or (patient.sex if is_self else ""),
    }


def intake_for(
    insurance: PatientInsurance | None,
    *,
    patient: Patient,
    appointment: Appointment | None = None,
    date_of_service: dt.date | None = None,
    npi: str = "",
) -> dict[str, Any]:
    """The intake shape `eligibility.completeness` reads, from the hub's rows."""
    intake: dict[str, Any] = {
        "patient": {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "dob": _iso(patient.dob),
            "sex": patient.sex,
            "email": patient.email,
            "phone": patient.mobile_phone or patient.home_phone or patient.work_phone,
            "zip": patient.zip_code,
            "address1": patient.address1,
            "city": patient.city,
            "state": patient.state,
        },
        "department_id": patient.department.athena_department_id,
        "provider": {"npi": npi},
        "date_of_service": _iso(date_of_service),
    }
    if appointment is not None:
        intake["appointment"] = {
            "department_id": appointment.department.athena_department_id,
            "provider_id": appointment.provider.athena_provider_id if appointment.provider else "",
            "date": _iso(appointment.date),
            "slot_id": appointment.athena_appointment_id,
        }
    if insurance is not None:
        intake["insurance"] = {
            "payer_name": insurance.payer_name,
            "payer_id": payer_id_for(insurance),
            "insurance_package_id": insurance.athena_insurance_package_id,
            "member_id": insurance.member_id,
            "group_number": insurance.group_number,
            "sequence_number": insurance.sequence_number,
            "relationship_to_subscriber": insurance.relationship_to_holder,
            "subscriber": holder_of(insurance),
        }
    return intake


def request_for(
    insurance: PatientInsurance,
    *,
    member_id: str,
    asker: Asker,
    service_type: str,
    date_of_service: dt.date,
) -> EligibilityRequest:
    """The 270 request: the holder as subscriber; a dependent patient in the 2000D loop."""
    patient = insurance.patient
    holder = holder_of(insurance)
    subscriber = Subscriber(
        first_name=holder["first_name"],
        last_name=holder["last_name"],
        member_id=member_id,
        dob=holder["dob"] or "",
        gender=holder["sex"] or None,
        group_number=insurance.group_number or None,
    )
    dependent = None
    if insurance.relationship_to_holder != PatientInsurance.Relationship.SELF:
        dependent = Dependent(
            first_name=patient.first_name,
            last_name=patient.last_name,
            dob=patient.dob,
            gender=patient.sex or None,
            relationship=RELATIONSHIP_CODES.get(insurance.relationship_to_holder, "34"),
        )
    return EligibilityRequest(
        payer=Payer(name=insurance.payer_name or "UNKNOWN PAYER", id=payer_id_for(insurance)),
        provider=Provider(name=asker.name, npi=asker.npi),
        subscriber=subscriber,
        dependent=dependent,
        service_types=(service_type,),
        date_of_service=date_of_service,
    )


def local_today(patient: Patient) -> dt.date:
    return timezone.now().astimezone(patient.department.tzinfo).date()
