"""Eligibility flows against the sandbox: its clearinghouse (our own 270s) and athena's benefitdetails."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from eligibility.clearinghouse import _process_client as clearinghouse_process_client
from eligibility.clearinghouse import clearinghouse_client
from eligibility.models import EligibilityCheck
from eligibility.services import check_request, checks_run_due
from hub.athena import build_athena_client
from hub.models import Appointment, Department, InsurancePackage, Patient, PatientInsurance
from sync import mapping
from sync.services import intents_run_due
from tests.conftest import Sandbox
from tests.factories import letters, make_appointment, make_department, make_practice, make_provider

_names = itertools.count(1)
VALID_NPI = "1999999984"


@pytest.fixture
def elig(sandbox: Sandbox, settings: Any) -> Sandbox:
    """The sandbox as clearinghouse and athena, short timeouts, every check through the clearinghouse."""
    settings.CLEARINGHOUSE_BASE_URL = f"{sandbox.url}/_clearinghouse"
    settings.CLEARINGHOUSE_CONNECT_TIMEOUT = 1.0
    settings.CLEARINGHOUSE_READ_TIMEOUT = 1.0
    settings.ELIGIBILITY_ROUTE = "clearinghouse"
    settings.ELIGIBILITY_ROUTE_BY_PAYER = {}
    settings.ELIGIBILITY_SERVICE_TYPE = "98"
    clearinghouse_process_client.cache_clear()
    return sandbox


@pytest.fixture
def boston(db: Any) -> Department:
    practice = make_practice()
    department = make_department(practice, athena_department_id="1", name="Harbor Family Medicine")
    make_provider(department, npi=VALID_NPI)
    for package_id, name in (("1001", "EXAMPLE HEALTH PLAN PPO"), ("1002", "EXAMPLE HEALTH PLAN HMO")):
        InsurancePackage.objects.get_or_create(
            practice=practice,
            athena_insurance_package_id=package_id,
            defaults={"name": name, "payer_name": "EXAMPLE HEALTH PLAN", "payer_id": "EX001"},
        )
    return department


def run_checks(now: dt.datetime | None = None) -> int:
    return checks_run_due(clearinghouse=clearinghouse_client(), athena=build_athena_client(), now=now)


def drain_intents() -> int:
    return intents_run_due(client=build_athena_client(), budget_seconds=20)


def payer_member(sandbox: Sandbox, member_id: str, patient: Patient, **fields: Any) -> None:
    """A member the sandbox clearinghouse knows (a card not yet in athena), matching the patient."""
    sandbox.edit(
        {
            "type": "clearinghouse.member",
            "member_id": member_id,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "dob": patient.dob.isoformat(),
            "sex": patient.sex,
            "group_number": "GRP00042",
            **fields,
        }
    )


def new_patient(department: Department, **fields: Any) -> Patient:
    n = next(_names)
    values = {
        "practice": department.practice,
        "department": department,
        "first_name": "Avery",
        "last_name": f"Coverage{letters(n)}",
        "dob": dt.date(1985, 4, 12),
        "sex": "F",
        "email": f"coverage{n}@example.test",
        "mobile_phone": f"555010{n % 10000:04d}",
    }
    values.update(fields)
    return Patient.objects.create(**values)


def card_insurance(patient: Patient, member_id: str, **fields: Any) -> PatientInsurance:
    values = {
        "patient": patient,
        "payer_name": "EXAMPLE HEALTH PLAN",
        "payer_id": "EX001",
        "member_id": member_id,
        "group_number": "GRP00042",
        "athena_insurance_package_id": "1001",
        "sequence_number": 1,
    }
    values.update(fields)
    return PatientInsurance.objects.create(**values)


def visit(patient: Patient, *, days_ahead: int = 2, **fields: Any) -> Appointment:
    local_today = dt.datetime.now(patient.department.tzinfo).date()
    values = {
        "patient": patient,
        "date": local_today + dt.timedelta(days=days_ahead),
        "provider": patient.department.providers.first(),
        **fields,
    }
    return make_appointment(patient.department, **values)


def athena_member(sandbox: Sandbox, case: str) -> tuple[Patient, PatientInsurance]:
    """A seeded athena patient whose primary insurance has this eligibility case, imported into the hub."""
    client = build_athena_client()
    rows = [row for row in sandbox.records("insurances", eligibility=case)["insurances"] if row["sequencenumber"] == 1]
    row = rows[0]
    athena_patient = client.get_patient(row["patientid"])
    practice = make_practice()
    for package in client.list_insurance_packages():
        InsurancePackage.objects.get_or_create(
            practice=practice,
            athena_insurance_package_id=package.insurance_package_id,
            defaults={"name": package.name, "payer_name": package.payer_name, "payer_id": package.payer_id},
        )
    department, _ = Department.objects.get_or_create(
        practice=practice, athena_department_id=athena_patient.department_id, defaults={"name": "Seeded clinic"}
    )
    if not department.providers.exists():
        make_provider(department, npi=VALID_NPI)
    fields = {
        key: value
        for key, value in mapping.patient_fields(athena_patient).items()
        if key in {f.name for f in Patient._meta.get_fields()}
    }
    patient = Patient.objects.create(
        practice=practice, department=department, athena_patient_id=athena_patient.patient_id, **fields
    )
    athena_insurance = next(
        i for i in client.list_insurances(athena_patient.patient_id) if i.insurance_id == row["insuranceid"]
    )
    insurance = PatientInsurance.objects.create(
        patient=patient, athena_insurance_id=athena_insurance.insurance_id, **mapping.insurance_fields(athena_insurance)
    )
    return patient, insurance


def check_now(insurance: PatientInsurance, **kwargs: Any) -> EligibilityCheck:
    check = check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.STAFF, **kwargs)
    run_checks()
    check.refresh_from_db()
    return check
