"""Conflict review from the admin: decisions reach the hub, athena and the portal; bulk, edits, reasons, assignment."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from hub.athena import build_athena_client
from hub.models import AuditEvent, Patient
from hub.roles import FRONT_DESK
from sync.inbound import NotificationEvent, events_store, inbound_events_process_due, patient_apply_from_athena
from sync.models import Conflict, InboundEvent, PortalEvent, WriteIntent
from sync.services import intents_run_due
from tests.api.conftest import make_portal
from tests.conftest import Sandbox
from tests.factories import make_department, make_patient, make_practice, make_staff
from tests.staffq.conftest import raise_conflict, shown, signed_in

pytestmark = pytest.mark.django_db


def athena_edit(sandbox: Sandbox, patient_id: str, fields: dict[str, str]) -> None:
    """A front-desk edit inside athena, arriving at the hub as athena's webhook would bring it."""
    answer = sandbox.edit({"type": "patient.update", "patientid": patient_id, "fields": fields})
    events = [
        NotificationEvent(
            event_id=event["id"],
            topic=event["topic"],
            resource_type="patient",
            resource_id=patient_id,
            department_id="1",
            occurred_at=timezone.now(),
        )
        for event in answer["results"][0]["events"]
    ]
    events_store(source=InboundEvent.Source.WEBHOOK, events=events)
    inbound_events_process_due(client=build_athena_client(), budget_seconds=10)


@pytest.fixture
def clash(sandbox: Sandbox) -> dict[str, Any]:
    """athena's front desk and the patient both changed the legal last name of chart 5001."""
    boston = make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    client = build_athena_client()
    patient, _, _ = patient_apply_from_athena(
        athena_patient=client.get_patient("5001"),
        occurred_at=timezone.now() - dt.timedelta(days=1),
        event_id="import-5001",
    )
    assert patient is not None
    athena_edit(sandbox, "5001", {"lastname": "Ortegalin"})
    portal = make_portal("conflict-portal", locations=["1"])
    answer = portal.patch(f"/api/v1/patients/{patient.public_id}", {"last_name": "Ortega Lin"})
    assert answer.status_code == 202, answer.content
    assert answer.json()["fields_in_review"] == ["last_name"]
    conflict = Conflict.objects.get(patient=patient, status=Conflict.Status.OPEN)
    desk = make_staff("desk-boston", role=FRONT_DESK, departments=[boston])
    return {"patient": patient, "conflict": conflict, "desk": desk, "boston": boston}


def decide(client: Any, conflict: Conflict, **form: str) -> Any:
    page = client.get(f"/admin/sync/conflict/{conflict.pk}/change/")
    assert page.status_code == 200
    return client.post(
        f"/admin/sync/conflict/{conflict.pk}/change/", {"action": "resolve", "shown": shown(page), **form}
    )


def test_the_review_page_shows_both_sides_and_logs_the_view(clash: dict[str, Any]) -> None:
    conflict = clash["conflict"]
    page = signed_in(clash["desk"]).get(f"/admin/sync/conflict/{conflict.pk}/change/")
    html = page.content.decode()
    sides = {side["key"]: side["value"] for side in page.context["values"]}
    assert sides["portal"] == "Ortega Lin" and sides["ehr"] == "Ortegalin"
    assert sides["baseline"] == clash["patient"].field_states.get(field="last_name").baseline.strip('"')
    assert "identity: portal and EHR both changed" in html and f"hub #{clash['patient'].pk}" in html
    viewed = AuditEvent.objects.get(action="view", object_type="conflict", actor_label="desk-boston")
    assert viewed.patient_ref == str(clash["patient"].pk) and viewed.department_id_ref == str(clash["boston"].pk)
    assert "Ortega" not in str(viewed.detail) and "Ortega" not in viewed.route


def test_choosing_the_portal_value_reaches_the_hub_athena_and_the_portal(
    clash: dict[str, Any], sandbox: Sandbox
) -> None:
    conflict, patient = clash["conflict"], clash["patient"]
    events_before = PortalEvent.objects.count()
    response = decide(signed_in(clash["desk"]), conflict, choice="portal", reason="matches the photo ID")
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.RESOLVED and conflict.reason == "matches the photo ID"
    assert conflict.resolved_by == clash["desk"] and conflict.resolution == "portal"
    assert Patient.objects.get(pk=patient.pk).last_name == "Ortega Lin"
    write = WriteIntent.objects.get(natural_key=f"update_patient:{patient.pk}:merge-conflict-{conflict.pk}")
    assert write.target == {"fields": ["last_name"]}
    intents_run_due(client=build_athena_client(), budget_seconds=20)
    write.refresh_from_db()
    assert write.state == WriteIntent.State.SUCCEEDED
    assert sandbox.patient("5001")["lastname"] == "Ortega Lin"
    announced = PortalEvent.objects.filter(pk__gt=0).order_by("pk")[events_before:]
    assert any("last_name" in event.data.get("changed_fields", []) for event in announced)
    audit = AuditEvent.objects.get(action="conflict-resolved", object_id=str(conflict.pk))
    assert audit.actor_label == "desk-boston" and audit.detail == {"field": "last_name", "choice": "portal"}


def test_choosing_the_ehr_value_writes_nothing_to_athena_but_tells_the_portal(clash: dict[str, Any]) -> None:
    conflict, patient = clash["conflict"], clash["patient"]
    events_before = PortalEvent.objects.count()
    assert decide(signed_in(clash["desk"]), conflict, choice="ehr", reason="front desk saw the card").status_code == 302
    assert Patient.objects.get(pk=patient.pk).last_name == "Ortegalin"
    assert not WriteIntent.objects.filter(natural_key__contains=f"merge-conflict-{conflict.pk}").exists()
    assert PortalEvent.objects.count() == events_before + 1


def test_an_edited_value_is_validated_then_written_both_ways(clash: dict[str, Any], sandbox: Sandbox) -> None:
    conflict, desk = clash["conflict"], signed_in(clash["desk"])
    refused = decide(desk, conflict, choice="edited", edited_value="0rtega Lin", reason="typo on both sides")
    assert refused.status_code == 200 and "letters, spaces" in refused.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN
    accepted = decide(desk, conflict, choice="edited", edited_value="  Ortega-Lin ", reason="typo on both sides")
    assert accepted.status_code == 302
    conflict.refresh_from_db()
    assert conflict.resolution == "edited" and conflict.resolved_value == "Ortega-Lin"
    intents_run_due(client=build_athena_client(), budget_seconds=20)
    assert sandbox.patient("5001")["lastname"] == "Ortega-Lin"


def test_a_reason_is_required(clash: dict[str, Any]) -> None:
    conflict = clash["conflict"]
    response = decide(signed_in(clash["desk"]), conflict, choice="portal", reason="   ")
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN and not AuditEvent.objects.filter(action="conflict-resolved")


def test_a_decision_on_values_that_changed_meanwhile_is_refused(clash: dict[str, Any], sandbox: Sandbox) -> None:
    conflict, desk = clash["conflict"], signed_in(clash["desk"])
    page = desk.get(f"/admin/sync/conflict/{conflict.pk}/change/")
    athena_edit(sandbox, "5001", {"lastname": "Ortegalinn"})  # the desk corrects it again meanwhile
    response = desk.post(
        f"/admin/sync/conflict/{conflict.pk}/change/",
        {"action": "resolve", "shown": shown(page), "choice": "ehr", "reason": "as athena says"},
    )
    assert response.status_code == 200 and "changed while you were looking" in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN and conflict.ehr_value == "Ortegalinn"


@pytest.mark.parametrize(
    "field,raw,accepted",
    [
        ("dob", "1980-02-29", "1980-02-29"),
        ("dob", "2999-01-01", None),
        ("dob", "29/02/1980", None),
        ("sex", "f", "F"),
        ("sex", "X", None),
        ("last_name", "", None),
        ("middle_name", "", ""),
        ("ssn", "123-45-678", None),
        ("mobile_phone", "(555) 010-1234", "5550101234"),
        ("consent_to_text", "yes", True),
    ],
)
def test_edited_values_are_checked_for_the_fields_type(field: str, raw: str, accepted: Any) -> None:
    from django.core.exceptions import ValidationError

    from sync.staff_services import conflict_value_clean

    if accepted is None:
        with pytest.raises(ValidationError):
            conflict_value_clean(field_name=field, raw=raw)
    else:
        assert conflict_value_clean(field_name=field, raw=raw) == accepted


@pytest.fixture
def family(clinic_a: Any) -> list[Conflict]:
    """Three patients whose middle names athena and the portal both changed the same way."""
    return [
        raise_conflict(make_patient(clinic_a), field="middle_name", baseline="", ehr="L", portal="Leigh")
        for _ in range(3)
    ]


def test_identical_conflicts_are_resolved_together_each_applied_and_audited(
    family: list[Conflict], clinic_a: Any, front_desk: Any
) -> None:
    odd = raise_conflict(make_patient(clinic_a), field="middle_name", baseline="", ehr="L", portal="Lee")
    desk = signed_in(front_desk)
    review = desk.get(f"/admin/sync/conflict/{family[0].pk}/change/")
    assert [c.pk for c in review.context["identical"]] == [c.pk for c in family[1:]]
    picked = desk.post(
        "/admin/sync/conflict/",
        {"action": "resolve_identical", "_selected_action": [c.pk for c in family]},
    )
    assert picked.status_code == 302 and "/bulk/?ids=" in picked["Location"]
    page = desk.get(picked["Location"])
    assert page.status_code == 200 and len(page.context["conflicts"]) == 3
    assert AuditEvent.objects.filter(action="list", object_type="conflict", detail__count=3).exists()
    done = desk.post(
        "/admin/sync/conflict/bulk/",
        {"ids": page.context["ids"], "shown": shown(page), "choice": "portal", "reason": "family's new ID cards"},
    )
    assert done.status_code == 302
    for conflict in family:
        conflict.refresh_from_db()
        assert conflict.status == Conflict.Status.RESOLVED and conflict.reason == "family's new ID cards"
        assert Patient.objects.get(pk=conflict.patient_id).middle_name == "Leigh"
        assert WriteIntent.objects.filter(natural_key__endswith=f"merge-conflict-{conflict.pk}").exists()
    assert AuditEvent.objects.filter(action="conflict-resolved").count() == 3
    odd.refresh_from_db()
    assert odd.status == Conflict.Status.OPEN


def test_conflicts_that_differ_are_not_resolved_together(
    family: list[Conflict], clinic_a: Any, front_desk: Any
) -> None:
    odd = raise_conflict(make_patient(clinic_a), field="middle_name", baseline="", ehr="L", portal="Lee")
    desk = signed_in(front_desk)
    response = desk.post(
        "/admin/sync/conflict/",
        {"action": "resolve_identical", "_selected_action": [family[0].pk, odd.pk]},
        follow=True,
    )
    assert "Only identical conflicts" in response.content.decode()
    forced = desk.get(f"/admin/sync/conflict/bulk/?ids={family[0].pk},{odd.pk}", follow=True)
    assert "not identical" in forced.content.decode()
    assert not Conflict.objects.filter(status=Conflict.Status.RESOLVED).exists()


def test_assignment_to_me_and_to_a_colleague_at_the_same_location(
    family: list[Conflict], front_desk: Any, front_desk_b: Any, clinic_a: Any
) -> None:
    colleague = make_staff("desk-a2", role=FRONT_DESK, departments=[clinic_a])
    conflict = family[0]
    desk = signed_in(front_desk)
    assert desk.post(f"/admin/sync/conflict/{conflict.pk}/change/", {"action": "assign-me"}).status_code == 302
    conflict.refresh_from_db()
    assert conflict.assignee == front_desk
    page = desk.get(f"/admin/sync/conflict/{conflict.pk}/change/")
    choices = {user.username for user in page.context["assign_form"].fields["assignee"].queryset}
    assert "desk-a2" in choices and "desk-b" not in choices
    desk.post(f"/admin/sync/conflict/{conflict.pk}/change/", {"action": "assign", "assignee": colleague.pk})
    conflict.refresh_from_db()
    assert conflict.assignee == colleague
    desk.post(f"/admin/sync/conflict/{conflict.pk}/change/", {"action": "assign", "assignee": front_desk_b.pk})
    conflict.refresh_from_db()
    assert conflict.assignee == colleague  # someone from another clinic is not offered, and not accepted
    assigned = AuditEvent.objects.filter(action="conflict-assigned", object_id=str(conflict.pk))
    assert [row.detail["assignee"] for row in assigned.order_by("sequence")] == [front_desk.pk, colleague.pk]


def test_the_list_puts_open_conflicts_first_oldest_first_with_counts(
    clinic_a: Any, front_desk: Any, superuser: Any
) -> None:
    newer = raise_conflict(make_patient(clinic_a), opened_ago=dt.timedelta(hours=1))
    older = raise_conflict(make_patient(clinic_a), opened_ago=dt.timedelta(days=2))
    settled = raise_conflict(make_patient(clinic_a), opened_ago=dt.timedelta(days=5))
    Conflict.objects.filter(pk=settled.pk).update(status=Conflict.Status.RESOLVED, resolved_at=timezone.now())
    page = signed_in(front_desk).get("/admin/sync/conflict/")
    assert [c.pk for c in page.context["cl"].result_list] == [older.pk, newer.pk, settled.pk]
    summary = page.context["queue_summary"]
    assert summary["open"] == 2 and summary["overdue"] == 1 and summary["oldest"] == "2 d"
    assert ("last_name", 2) in summary["fields"]
    assert AuditEvent.objects.filter(action="list", object_type="conflict", actor_label="desk-a").exists()
