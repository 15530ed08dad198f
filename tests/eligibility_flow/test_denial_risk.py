"""The denial-risk score of each visit, shown to staff: the injected cause comes out as the top reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from eligibility.models import DenialRisk, EligibilityCheck
from eligibility.risk_service import denial_risk_labels
from eligibility.services import check_request, rechecks_plan
from hub.models import AuditEvent
from hub.roles import FRONT_DESK
from hub.staff_home import register_denial_risk_provider
from sync import ledger
from sync.models import WriteIntent
from tests.conftest import Sandbox
from tests.eligibility_flow.conftest import card_insurance, new_patient, payer_member, run_checks, visit
from tests.factories import make_department, make_staff
from tests.staff.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def risk_column() -> Iterator[None]:
    # Another test may have cleared the home page's provider; this is the one the app registers.
    register_denial_risk_provider(denial_risk_labels)
    yield


@pytest.fixture
def desk(boston: Any) -> Any:
    return make_staff("desk-coverage", role=FRONT_DESK, departments=[boston])


def today_visit(patient: Any) -> Any:
    local = timezone.now().astimezone(patient.department.tzinfo)
    return visit(patient, days_ahead=0, date=local.date(), start_time=dt.time(23, 59))


def scored_visit(sandbox: Sandbox, department: Any, case: str, member_id: str) -> tuple[Any, Any]:
    patient = new_patient(department)
    if case != "unknown_member":
        payer_member(sandbox, member_id, patient, eligibility=case)
    insurance = card_insurance(patient, member_id)
    appointment = today_visit(patient)
    check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.BOOKING, appointment=appointment)
    run_checks()
    return appointment, DenialRisk.objects.get(appointment=appointment)


@pytest.mark.parametrize(
    ("case", "reason", "sentence", "carcs"),
    [
        ("auth_required", "auth_missing", "Authorization required for this service and none on file", ["197", "15"]),
        ("inactive", "coverage_ended", "Coverage ends before the date of service", ["27"]),
        ("cob", "other_payer", "The payer reports other insurance that may be primary", ["22", "109"]),
        ("unknown_member", "member_not_found", "The payer could not find this member ID; re-check the card", None),
        ("active", None, None, None),
    ],
)
def test_the_injected_cause_is_the_top_reason_staff_see(
    elig: Sandbox,
    boston: Any,
    desk: Any,
    client: Client,
    case: str,
    reason: str | None,
    sentence: str | None,
    carcs: list[str] | None,
) -> None:
    _appointment, risk = scored_visit(elig, boston, case, f"EXH4{len(case):02d}0012345")
    if reason is None:
        assert risk.band == "low" and risk.reasons == []
    else:
        assert risk.reasons[0]["code"] == reason and risk.reasons[0]["sentence"] == sentence
        assert risk.band == "high" or case == "cob"
        if carcs:
            assert risk.reasons[0]["carcs"] == carcs
    sign_in(client, desk)
    page = client.get(f"/admin/eligibility/denialrisk/{risk.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert risk.label in html
    if sentence:
        assert f"<b>{sentence}.</b>" in html and ", ".join(risk.reasons[0]["carcs"]) in html
    assert AuditEvent.objects.filter(action="view", object_type="denial_risk", object_id=str(risk.pk)).exists()
    # The home page's visit list carries the score, with the top reason on hover.
    home = client.get("/admin/").content.decode()
    assert risk.label in home
    if sentence:
        assert f'title="{sentence}"' in home


def test_a_never_checked_visit_says_eligibility_is_not_verified(boston: Any) -> None:
    from eligibility.risk_service import appointment_risk_refresh

    patient = new_patient(boston)
    card_insurance(patient, "EXH400000001")
    risk = appointment_risk_refresh(appointment=visit(patient))
    assert risk is not None
    assert risk.reasons[0]["sentence"] == "Eligibility has not been verified for this visit"


def test_check_pages_are_location_scoped_and_access_logged(
    elig: Sandbox, boston: Any, desk: Any, client: Client
) -> None:
    _appointment, risk = scored_visit(elig, boston, "active", "EXH400000002")
    check = risk.eligibility_check
    assert check is not None
    sign_in(client, desk)
    page = client.get(f"/admin/eligibility/eligibilitycheck/{check.pk}/change/")
    assert page.status_code == 200 and "Coverage is active" in page.content.decode()
    raw = client.get(f"/admin/eligibility/eligibilitycheck/{check.pk}/attempts/1/x12/")
    assert raw.status_code == 200 and "EXH400000002" in raw.content.decode()
    assert "no-store" in raw["Cache-Control"]
    views = AuditEvent.objects.filter(action="view", patient_ref=str(check.patient_id))
    assert {row.object_type for row in views} >= {"eligibility_check", "eligibility_x12"}
    other = make_staff("desk-elsewhere", role=FRONT_DESK, departments=[make_department(name="Elsewhere")])
    sign_in(client, other)
    assert client.get(f"/admin/eligibility/eligibilitycheck/{check.pk}/change/").status_code == 404
    assert client.get(f"/admin/eligibility/eligibilitycheck/{check.pk}/attempts/1/x12/").status_code == 404
    assert client.get(f"/admin/eligibility/denialrisk/{risk.pk}/change/").status_code == 404


def test_a_visit_booked_through_the_portal_gets_its_coverage_checked(elig: Sandbox, boston: Any) -> None:
    patient = new_patient(boston)
    insurance = card_insurance(patient, "EXH400000003")
    appointment = visit(patient)
    booking = WriteIntent.objects.create(
        practice=boston.practice,
        department=boston,
        patient=patient,
        operation=WriteIntent.Operation.BOOK_APPOINTMENT,
        natural_key=f"book:{appointment.athena_appointment_id}:{patient.pk}",
        state=WriteIntent.State.SUCCEEDED,
        next_attempt_at=timezone.now(),
        result={"appointmentid": appointment.athena_appointment_id, "status": "f"},
    )
    ledger.after_final(booking)
    check = EligibilityCheck.objects.get(insurance=insurance)
    assert (check.trigger, check.appointment_id, check.date_of_service) == ("booking", appointment.pk, appointment.date)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("connections_closed_after_each_use")
def test_the_recheck_plan_runs_outside_a_transaction_as_the_scheduler_runs_it(elig: Sandbox, boston: Any) -> None:
    # Each planned check queues a task; outside a transaction django-q2's broker closes the
    # database connection as it does, which must not cut the plan short.
    patients = [new_patient(boston) for _ in range(3)]
    for n, patient in enumerate(patients):
        card_insurance(patient, f"EXH40000002{n}")
        visit(patient, days_ahead=1 + n)
    assert rechecks_plan() == 3
    assert EligibilityCheck.objects.filter(trigger="schedule").count() == 3


def test_visits_of_the_next_days_are_rechecked_once_a_day(elig: Sandbox, boston: Any) -> None:
    soon, later = new_patient(boston), new_patient(boston)
    card_insurance(soon, "EXH400000004")
    card_insurance(later, "EXH400000005")
    visit(soon, days_ahead=2)
    visit(later, days_ahead=6)
    assert rechecks_plan() == 1
    assert list(EligibilityCheck.objects.values_list("patient_id", "trigger")) == [(soon.pk, "schedule")]
    run_checks()
    assert rechecks_plan() == 0  # answered (rejected) less than a day ago
    assert rechecks_plan(now=timezone.now() + dt.timedelta(hours=21)) == 1


def test_the_lists_show_a_location_its_own_checks_and_scores_only(
    elig: Sandbox, boston: Any, desk: Any, client: Client
) -> None:
    scored_visit(elig, boston, "auth_required", "EXH400000006")
    sign_in(client, desk)
    checks = client.get("/admin/eligibility/eligibilitycheck/")
    risks = client.get("/admin/eligibility/denialrisk/")
    assert checks.status_code == risks.status_code == 200
    assert "Coverage is active" in checks.content.decode()
    assert "Authorization required for this service and none on file" in risks.content.decode()
    listed = AuditEvent.objects.filter(action="list", object_type__in=["eligibility_check", "denial_risk"])
    assert {row.object_type: row.detail["count"] for row in listed} == {"eligibility_check": 1, "denial_risk": 1}
    sign_in(client, make_staff("desk-far", role=FRONT_DESK, departments=[make_department(name="Far Away")]))
    assert client.get("/admin/eligibility/eligibilitycheck/").context["cl"].result_count == 0
    assert client.get("/admin/eligibility/denialrisk/").context["cl"].result_count == 0
