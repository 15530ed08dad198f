"""Starting from athena: the import, its resumption after an interruption, and seed_demo's idempotence."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from hub.models import Appointment, Department, Patient, PatientInsurance, Provider, RateLimitBucket
from sync.models import ImportRun
from tests.conftest import Sandbox

pytestmark = pytest.mark.django_db


def athena_counts(sandbox: Sandbox) -> dict[str, int]:
    return {
        "patients": len(sandbox.records("patients")["patients"]),
        "insurances": len(sandbox.records("insurances")["insurances"]),
    }


def hub_rows() -> dict[str, Any]:
    return {
        "departments": sorted(Department.objects.values_list("athena_department_id", flat=True)),
        "providers": Provider.objects.count(),
        "patients": sorted(Patient.objects.values_list("athena_patient_id", "last_name", "dob")),
        "insurances": sorted(PatientInsurance.objects.values_list("athena_insurance_id", "member_id", "is_cancelled")),
        "appointments": sorted(
            Appointment.objects.values_list("athena_appointment_id", "status", "patient__athena_patient_id")
        ),
    }


def test_import_brings_athenas_practice_into_the_hub(sandbox: Sandbox) -> None:
    call_command("athena_import", stdout=io.StringIO())
    counts = athena_counts(sandbox)
    assert Department.objects.count() == 15
    assert Department.objects.get(athena_department_id="236").timezone == "Pacific/Honolulu"
    assert Provider.objects.count() >= 30 and all(p.departments.exists() for p in Provider.objects.all())
    assert Patient.objects.count() == counts["patients"]
    assert PatientInsurance.objects.count() == counts["insurances"]
    assert Appointment.objects.filter(patient__isnull=False).exists()
    # athena's values are the golden record's starting point (EHR-sourced, agreed baseline).
    patient = Patient.objects.order_by("pk").first()
    assert patient is not None and patient.field_states.filter(field="last_name", source="ehr").exists()


def test_an_interrupted_import_resumes_and_ends_with_the_same_rows(sandbox: Sandbox) -> None:
    sandbox.control("PUT", "quota", json={"remaining": 150})  # athena's daily quota runs out half way
    with pytest.raises(CommandError, match="re-run to resume"):
        call_command("athena_import", stdout=io.StringIO())
    partial = Patient.objects.count()
    assert 0 < partial < athena_counts(sandbox)["patients"]
    run = ImportRun.objects.get()
    assert run.finished_at is None and "patients" not in run.stages_done

    # The next day: athena's quota is back and the pause it asked for (Retry-After: midnight) is over.
    sandbox.control("PUT", "quota", json={"remaining": 50000})
    RateLimitBucket.objects.update(paused_until=0)
    out = io.StringIO()
    call_command("athena_import", "-v", "2", stdout=out)
    assert "resuming import" in out.getvalue()
    assert ImportRun.objects.count() == 1 and ImportRun.objects.get().finished_at is not None
    resumed = hub_rows()

    # An uninterrupted import of the same athena, into an empty hub, gives exactly these rows.
    for model in (
        "sync.InboundEvent",
        "hub.ChangeSet",
        "hub.FieldState",
        "hub.Appointment",
        "hub.PatientInsurance",
        "hub.Patient",
    ):
        apps.get_model(model).objects.all().delete()
    ImportRun.objects.all().delete()
    call_command("athena_import", stdout=io.StringIO())
    assert hub_rows() == resumed
    counts = athena_counts(sandbox)
    assert (len(resumed["patients"]), len(resumed["insurances"])) == (counts["patients"], counts["insurances"])


def test_running_the_import_again_changes_nothing(sandbox: Sandbox) -> None:
    call_command("athena_import", stdout=io.StringIO())
    before = hub_rows()
    call_command("athena_import", stdout=io.StringIO())
    assert hub_rows() == before


def test_seed_demo_twice_leaves_the_same_row_counts(sandbox: Sandbox) -> None:
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from hub.models import StaffProfile

    call_command("seed_demo", stdout=io.StringIO())
    from intake.models import PortalClient

    models = [Department, Provider, Patient, PatientInsurance, Appointment, StaffProfile, TOTPDevice, PortalClient]
    models.append(get_user_model())
    first = {model.__name__: model.objects.count() for model in models}
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert {model.__name__: model.objects.count() for model in models} == first
    assert "nothing changed" in out.getvalue()
    boston_desk = StaffProfile.objects.get(user__username="frontdesk.boston")
    assert sorted(boston_desk.departments.values_list("athena_department_id", flat=True)) == ["1", "21"]
