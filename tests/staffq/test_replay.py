"""Guarded replay against the sandbox: the dry run shows what athena gets; replays are linked, never duplicates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from hub.athena import build_athena_client
from hub.models import AuditEvent, Patient
from sync.inbound import inbound_events_process_due, patient_apply_from_athena
from sync.models import InboundEvent, IntentEvent, PortalEvent, WebhookEndpoint, WriteIntent
from sync.portal_events import portal_event_emit, portal_events_deliver_due
from sync.services import intents_run_due
from tests.api.conftest import make_portal, registration
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice, make_staff
from tests.staffq.conftest import make_intent, shown, signed_in

pytestmark = pytest.mark.django_db


def drain() -> None:
    intents_run_due(client=build_athena_client(), budget_seconds=20)


@pytest.fixture
def boston(sandbox: Sandbox) -> Any:
    return make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")


@pytest.fixture
def integrator(boston: Any) -> Any:
    from hub.roles import INTEGRATION_ADMIN

    return make_staff("integrator", role=INTEGRATION_ADMIN, all_locations=True)


@pytest.fixture
def chart_5001(boston: Any) -> Patient:
    patient, _, _ = patient_apply_from_athena(
        athena_patient=build_athena_client().get_patient("5001"),
        occurred_at=timezone.now() - dt.timedelta(days=1),
        event_id="import-5001",
    )
    assert patient is not None
    return patient


def test_a_parked_write_is_dry_run_then_replayed_in_place(
    chart_5001: Patient, integrator: Any, sandbox: Sandbox
) -> None:
    Patient.objects.filter(pk=chart_5001.pk).update(last_name="Ortega Lin")
    intent = make_intent(chart_5001, target={"fields": ["last_name"]}, athena_message="Service unavailable")
    admin = signed_in(integrator)

    detail = admin.get(f"/admin/sync/writeintent/{intent.pk}/change/").content.decode()
    assert "gave up after 8 attempts" in detail and "Service unavailable" in detail and "Dry run a replay" in detail
    page = admin.get(f"/admin/sync/writeintent/{intent.pk}/dry-run/")
    plan = page.context["plan"]
    assert plan["method"] == "PUT" and plan["route"] == "/v1/{practiceid}/patients/5001"
    assert plan["form"] == {"lastname": "Ortega Lin"}
    assert AuditEvent.objects.filter(action="view", object_type="write_intent", detail__page="dry-run").exists()

    missing = admin.post(f"/admin/sync/writeintent/{intent.pk}/replay/", {"reason": "", "shown": shown(page)})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    response = admin.post(
        f"/admin/sync/writeintent/{intent.pk}/replay/", {"reason": "athena is back", "shown": shown(page)}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"/writeintent/{intent.pk}/change/")
    intent.refresh_from_db()
    assert intent.state == WriteIntent.State.PENDING and intent.must_reconcile
    history = IntentEvent.objects.filter(intent=intent).order_by("pk").last()
    assert history is not None and history.note == "retried by staff: athena is back" and history.actor == "integrator"
    audit = AuditEvent.objects.get(action="intent-replay")
    assert (
        audit.detail["mode"] == "in-place" and audit.actor_label == "integrator" and "athena" not in str(audit.detail)
    )

    drain()
    intent.refresh_from_db()
    assert intent.state == WriteIntent.State.SUCCEEDED
    # What the dry run showed is what athena now holds.
    assert sandbox.patient("5001")["lastname"] == plan["form"]["lastname"]


def test_a_replay_whose_dry_run_changed_meanwhile_is_refused(chart_5001: Patient, integrator: Any) -> None:
    Patient.objects.filter(pk=chart_5001.pk).update(last_name="Ortega Lin")
    intent = make_intent(chart_5001, target={"fields": ["last_name"]})
    admin = signed_in(integrator)
    page = admin.get(f"/admin/sync/writeintent/{intent.pk}/dry-run/")
    Patient.objects.filter(pk=chart_5001.pk).update(last_name="Ortega-Lin")
    response = admin.post(
        f"/admin/sync/writeintent/{intent.pk}/replay/", {"reason": "athena is back", "shown": shown(page)}
    )
    assert response.status_code == 200 and "changed while you were looking" in response.content.decode()
    assert response.context["plan"]["form"] == {"lastname": "Ortega-Lin"}
    intent.refresh_from_db()
    assert intent.state == WriteIntent.State.PARKED


def test_a_failed_registration_is_replayed_as_a_linked_write_that_reads_athena_back_first(
    boston: Any, integrator: Any, sandbox: Sandbox
) -> None:
    portal = make_portal("replay-portal", locations=["1"])
    # athena commits the chart but answers 400: the hub records a refusal although the write happened.
    sandbox.configure(
        faults={
            "error_status": 400,
            "rules": [{"method": "POST", "route": "/v1/{practiceid}/patients", "kind": "error_after", "count": 1}],
        }
    )
    submitted = portal.post("/api/v1/patients", registration(last_name="Replaywood"))
    assert submitted.status_code == 202
    drain()
    original = WriteIntent.objects.get(operation="create_patient")
    assert original.state == WriteIntent.State.FAILED and original.last_error_kind == "permanent"
    charts = [p for p in sandbox.records("patients", created_via="api")["patients"] if p["lastname"] == "Replaywood"]
    assert len(charts) == 1

    admin = signed_in(integrator)
    page = admin.get(f"/admin/sync/writeintent/{original.pk}/dry-run/")
    plan = page.context["plan"]
    assert plan["method"] == "POST" and plan["route"] == "/v1/{practiceid}/patients"
    assert plan["form"]["lastname"] == "Replaywood" and plan["form"]["departmentid"] == "1"
    assert "enhancedbestmatch" in plan["reconcile_first"] and "new write linked to" in page.content.decode()
    response = admin.post(
        f"/admin/sync/writeintent/{original.pk}/replay/",
        {"reason": "athena answered 400 after saving", "shown": shown(page)},
    )
    assert response.status_code == 302
    replay = WriteIntent.objects.get(replay_of=original)
    assert response["Location"].endswith(f"/writeintent/{replay.pk}/change/")
    assert replay.state == WriteIntent.State.PENDING and replay.must_reconcile and replay.operation == "create_patient"

    drain()
    replay.refresh_from_db()
    original.refresh_from_db()
    assert replay.state == WriteIntent.State.SUCCEEDED and replay.reconciled
    assert original.state == WriteIntent.State.FAILED  # the original keeps its record
    assert (
        original.events.order_by("pk").last().note
        == f"replayed as intent {replay.pk}: athena answered 400 after saving"
    )
    patient = Patient.objects.get(pk=original.patient_id)
    assert patient.athena_patient_id == str(charts[0]["patientid"])
    # athena's own records: still one chart, and the hub posted it once.
    after = [p for p in sandbox.records("patients", created_via="api")["patients"] if p["lastname"] == "Replaywood"]
    assert len(after) == 1
    assert len(sandbox.requests(route="/v1/{practiceid}/patients", method="POST")) == 1
    audit = AuditEvent.objects.get(action="intent-replay")
    assert audit.detail == {"mode": "linked", "operation": "create_patient", "replay": replay.pk}
    assert audit.intent_id == str(replay.pk) and audit.object_id == str(original.pk)

    # One replay per original: a second one is refused (the page no longer offers it).
    again = admin.get(f"/admin/sync/writeintent/{original.pk}/dry-run/")
    assert 'id="replay-form"' not in again.content.decode() and f"write #{replay.pk}" in again.content.decode()
    refused = admin.post(f"/admin/sync/writeintent/{original.pk}/replay/", {"reason": "again", "shown": shown(page)})
    assert refused.status_code == 200 and WriteIntent.objects.filter(replay_of=original).count() == 1
    detail = admin.get(f"/admin/sync/writeintent/{replay.pk}/change/").content.decode()
    assert f'Replay of <a href="/admin/sync/writeintent/{original.pk}/change/">write #{original.pk}' in detail


def test_a_parked_athena_event_is_processed_again(chart_5001: Patient, integrator: Any, sandbox: Sandbox) -> None:
    event = InboundEvent.objects.create(
        source=InboundEvent.Source.WEBHOOK,
        event_id="evt-parked",
        topic="Patient.update",
        resource_type="patient",
        resource_id="5001",
        athena_department_id="1",
        department=chart_5001.department,
        occurred_at=timezone.now(),
        state=InboundEvent.State.PARKED,
        attempts=8,
        error="gave up: athena 503",
    )
    sandbox.edit({"type": "patient.update", "patientid": "5001", "fields": {"homephone": "6175550177"}})
    admin = signed_in(integrator)
    page = admin.get(f"/admin/sync/inboundevent/{event.pk}/change/").content.decode()
    assert "gave up: athena 503" in page and 'id="process-again"' in page
    assert admin.post(f"/admin/sync/inboundevent/{event.pk}/process-again/").status_code == 302
    event.refresh_from_db()
    assert event.state == InboundEvent.State.RECEIVED and event.attempts == 0
    inbound_events_process_due(client=build_athena_client(), budget_seconds=10)
    event.refresh_from_db()
    assert event.state == InboundEvent.State.APPLIED and "home_phone" in event.changed_fields
    assert Patient.objects.get(pk=chart_5001.pk).home_phone == "6175550177"
    assert AuditEvent.objects.filter(action="inbound-requeue", object_id=str(event.pk), actor_label="integrator")


def test_a_portal_endpoint_held_after_410_is_shown_and_re_enabled(
    chart_5001: Patient, integrator: Any, sandbox: Sandbox, settings: Any
) -> None:
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    sandbox.configure(portal={"respond_status": 410})
    PortalEvent.objects.all().delete()  # the chart's own creation event is not this test's business
    for _ in range(2):
        portal_event_emit(type="patient.updated", department=chart_5001.department, patient=chart_5001, data={})
    portal_events_deliver_due(budget_seconds=5)
    endpoint = WebhookEndpoint.objects.get(url=settings.PORTAL_WEBHOOK_URL)
    assert endpoint.disabled_at is not None
    assert PortalEvent.objects.filter(state=PortalEvent.State.HELD).count() == 2
    admin = signed_in(integrator)
    listing = admin.get("/admin/sync/webhookendpoint/").content.decode()
    assert "Held since" in listing
    page = admin.get(f"/admin/sync/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert "2 events wait" in page and 'id="enable-endpoint"' in page
    sandbox.configure(portal={"respond_status": 204})
    assert admin.post(f"/admin/sync/webhookendpoint/{endpoint.pk}/enable/").status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None
    portal_events_deliver_due(budget_seconds=5)
    assert PortalEvent.objects.filter(state=PortalEvent.State.DELIVERED).count() == 2
    assert AuditEvent.objects.filter(action="enable-portal-endpoint", actor_label="integrator").exists()
