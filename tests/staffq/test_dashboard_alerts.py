"""Location dashboard metrics, /metrics gauges, alert conditions and home panels on fixture data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from hub.alerts import alerts_evaluate, check_quota
from hub.models import Alert, RateLimitBucket
from sync import staff_registry
from sync.models import InboundEvent, IntentEvent, PortalDelivery, PortalEvent, WebhookEndpoint, WriteIntent
from tests.factories import make_patient
from tests.staffq.conftest import make_intent, raise_conflict, signed_in

pytestmark = pytest.mark.django_db
State = WriteIntent.State
NOW = timezone.now()


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def inbound(department: Any, *, state: str = "applied", lag: float = 1.0, processed: dt.datetime | None = None) -> Any:
    processed = processed or ago(minutes=5)
    return InboundEvent.objects.create(
        source="athena-webhook",
        event_id=f"evt-{InboundEvent.objects.count()}",
        resource_type="patient",
        resource_id="5001",
        department=department,
        occurred_at=processed - dt.timedelta(seconds=lag),
        processed_at=processed if state != "received" else None,
        state=state,
    )


def settle(patient: Any, state: str, finished: dt.datetime) -> WriteIntent:
    intent = make_intent(patient, state=state)
    WriteIntent.objects.filter(pk=intent.pk).update(finished_at=finished)
    return intent


@pytest.fixture
def busy_day(clinic_a: Any, clinic_b: Any, settings: Any) -> dict[str, Any]:
    settings.PORTAL_WEBHOOK_URL = "http://127.0.0.1:9/portal-webhooks"
    patient = make_patient(clinic_a, first_name="Zebulonca", last_name="Quixotellery")
    for lag in (1, 2, 3, 40):
        inbound(clinic_a, lag=lag)
    inbound(clinic_a, lag=500, processed=ago(hours=2))  # outside the hour
    waiting = inbound(clinic_a, state="received")
    InboundEvent.objects.filter(pk=waiting.pk).update(received_at=ago(minutes=20))
    inbound(clinic_a, state="parked")
    for state in (State.PENDING, State.PENDING, State.AMBIGUOUS, State.PARKED):
        make_intent(patient, state=state)
    for _ in range(3):
        settle(patient, State.SUCCEEDED, ago(minutes=10))
    settle(patient, State.FAILED, ago(minutes=20))
    settle(patient, State.FAILED, ago(hours=2))
    pending = PortalEvent.objects.create(
        public_id="evt_p1",
        type="patient.updated",
        patient=patient,
        department=clinic_a,
        occurred_at=NOW,
        next_attempt_at=NOW,
    )
    delivered = PortalEvent.objects.create(
        public_id="evt_p2",
        type="patient.updated",
        patient=patient,
        department=clinic_a,
        occurred_at=NOW,
        next_attempt_at=NOW,
        state="delivered",
        delivered_at=ago(minutes=5),
    )
    for attempt, when in ((1, ago(minutes=30)), (2, ago(minutes=3)), (3, ago(hours=3))):
        row = PortalDelivery.objects.create(event=pending, attempt=attempt, status_code=500, error="HTTP 500")
        PortalDelivery.objects.filter(pk=row.pk).update(attempted_at=when)
    PortalDelivery.objects.create(event=delivered, attempt=1, status_code=204, succeeded=True)
    WebhookEndpoint.objects.create(url=settings.PORTAL_WEBHOOK_URL, disabled_at=ago(minutes=7))
    return {"a": clinic_a, "b": clinic_b, "patient": patient}


def test_each_metric_computes_what_it_claims(busy_day: dict[str, Any]) -> None:
    a, b = busy_day["a"], busy_day["b"]
    both = [a, b]
    assert staff_registry.event_lag_p95(both, NOW) == {a.pk: 40.0}
    assert staff_registry.writes_queued(both, NOW) == {a.pk: 3, b.pk: 0}
    assert staff_registry.events_waiting(both, NOW) == {a.pk: 1, b.pk: 0}
    assert staff_registry.portal_events_queued(both, NOW) == {a.pk: 1, b.pk: 0}
    assert staff_registry.parked_work(both, NOW) == {a.pk: 2, b.pk: 0}  # one write, one event
    assert staff_registry.write_failure_rate(both, NOW) == {a.pk: 0.25}
    assert staff_registry.portal_failures_last_hour(both, NOW) == {a.pk: 2, b.pk: 0}
    assert staff_registry.last_athena_event(both, NOW)[a.pk] >= ago(minutes=1)
    assert staff_registry.portal_last_delivered(both, NOW) == {a.pk: ago(minutes=5)}
    assert staff_registry.portal_endpoint_state(both, NOW) == {a.pk: "held 7 min (410)", b.pk: "held 7 min (410)"}


def test_the_dashboard_shows_them_per_location(busy_day: dict[str, Any], integration_admin: Any) -> None:
    page = signed_in(integration_admin).get("/admin/locations/")
    keys = [metric.key for metric in page.context["metrics"]]
    rows = {row["department"].pk: row for row in page.context["rows"]}
    cells = {key: rows[busy_day["a"].pk]["cells"][keys.index(key)] for key in keys}
    assert cells["event_lag_p95"].text == "40 s" and not cells["event_lag_p95"].warn
    assert cells["writes_queued"].text == "3" and cells["parked_work"].text == "2" and cells["parked_work"].warn
    assert cells["write_failure_rate"].text == "25.0%" and cells["write_failure_rate"].warn
    assert cells["portal_failures"].text == "2" and cells["portal_endpoint"].text.startswith("held")
    assert rows[busy_day["b"].pk]["cells"][keys.index("parked_work")].text == "0"


def test_metrics_carry_queue_gauges_by_location_system_and_state_without_phi(
    busy_day: dict[str, Any], client: Any
) -> None:
    text = client.get("/metrics").content.decode()
    a = busy_day["a"].pk
    assert f'hub_write_intents{{location="{a}",state="parked",system="athena"}} 1.0' in text
    assert f'hub_write_intents{{location="{a}",state="pending",system="athena"}} 2.0' in text
    assert f'hub_write_intents_settled_last_hour{{location="{a}",state="failed",system="athena"}} 1.0' in text
    assert f'hub_inbound_events{{location="{a}",state="received",system="athena"}} 1.0' in text
    assert f'hub_portal_events{{location="{a}",state="pending",system="portal"}} 1.0' in text
    assert "hub_portal_endpoint_held 1.0" in text
    assert f'hub_location_metric{{location="{a}",metric="parked_work"}} 2.0' in text
    assert "Zebulonca" not in text and "Quixotellery" not in text


def test_parked_or_failed_writes_piling_up_open_one_alert_and_clear_once(
    clinic_a: Any, clinic_b: Any, settings: Any
) -> None:
    settings.HUB_ALERT_EMAILS = ["oncall@example.test"]
    settings.HUB_ALERT_CLEAR_AFTER_MINUTES = 10
    patient = make_patient(clinic_a)
    for _ in range(3):
        intent = make_intent(patient, state=State.FAILED)
        IntentEvent.objects.filter(intent=intent).update(at=NOW - dt.timedelta(minutes=5))
    quiet = make_intent(make_patient(clinic_b), state=State.FAILED)
    IntentEvent.objects.filter(intent=quiet).update(at=NOW - dt.timedelta(minutes=5))
    findings = staff_registry.check_stuck_writes(NOW)
    assert [(f.subject, f.summary) for f in findings] == [
        (str(clinic_a.pk), "3 parked or failed in the last 30 min; 0 parked now")
    ]
    alerts_evaluate(now=NOW)
    alerts_evaluate(now=NOW + dt.timedelta(minutes=5))
    opened = Alert.objects.filter(condition="writes-parking")
    assert opened.count() == 1 and opened.get().department_ref == str(clinic_a.pk)
    assert len([m for m in mail.outbox if "opened" in m.subject]) == 1
    alerts_evaluate(now=NOW + dt.timedelta(minutes=40))  # out of the window, and past the clear delay
    alert = opened.get()
    assert alert.closed_at is not None
    assert len([m for m in mail.outbox if "cleared" in m.subject]) == 1


def test_a_large_parked_pile_alerts_even_without_growth(clinic_a: Any, settings: Any) -> None:
    settings.HUB_ALERT_PARKED_THRESHOLD = 4
    patient = make_patient(clinic_a)
    for _ in range(4):
        intent = make_intent(patient, state=State.PARKED)
        IntentEvent.objects.filter(intent=intent).update(at=NOW - dt.timedelta(hours=3))
    (finding,) = staff_registry.check_stuck_writes(NOW)
    assert finding.summary.endswith("4 parked now")


def test_portal_delivery_alerts_for_a_held_endpoint_and_for_failures_with_no_success(
    clinic_a: Any, settings: Any
) -> None:
    settings.PORTAL_WEBHOOK_URL = "http://127.0.0.1:9/portal-webhooks"
    assert staff_registry.check_portal_delivery(NOW) == []
    endpoint = WebhookEndpoint.objects.create(url=settings.PORTAL_WEBHOOK_URL, disabled_at=NOW)
    assert [f.subject for f in staff_registry.check_portal_delivery(NOW)] == ["endpoint-held"]
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=None)
    event = PortalEvent.objects.create(
        public_id="evt_x", type="patient.updated", department=clinic_a, occurred_at=NOW, next_attempt_at=NOW
    )
    for attempt in range(5):
        PortalDelivery.objects.create(event=event, attempt=attempt + 1, status_code=500, error="HTTP 500")
    (failing,) = staff_registry.check_portal_delivery(timezone.now())
    assert failing.subject == "deliveries-failing" and "500 x5" in failing.summary
    PortalDelivery.objects.create(event=event, attempt=6, status_code=204, succeeded=True)
    assert staff_registry.check_portal_delivery(timezone.now()) == []


def test_athena_events_stuck_in_received_alert_per_location(clinic_a: Any) -> None:
    fresh = inbound(clinic_a, state="received")
    assert staff_registry.check_stuck_events(timezone.now()) == []
    InboundEvent.objects.filter(pk=fresh.pk).update(received_at=timezone.now() - dt.timedelta(minutes=20))
    (finding,) = staff_registry.check_stuck_events(timezone.now())
    assert finding.subject == str(clinic_a.pk) and finding.summary.startswith("1 events received over 10 min")


def test_athenas_quota_readings_feed_the_quota_alert(db: Any) -> None:
    RateLimitBucket.objects.create(
        key="athena:http://127.0.0.1:8100:195900", quota_limit=50000, quota_remaining=1200, quota_seen_at=NOW
    )
    readings = list(staff_registry.athena_quota_readings())
    assert [(r.name, r.limit, r.remaining) for r in readings] == [("athena practice 195900", 50000, 1200)]
    assert [f.summary for f in check_quota(NOW)] == ["1200 of 50000 calls left (athena practice 195900)"]
    RateLimitBucket.objects.update(quota_seen_at=NOW - dt.timedelta(hours=3))
    assert list(staff_registry.athena_quota_readings()) == []


def test_home_panels_show_the_users_locations_most_urgent_first(clinic_a: Any, clinic_b: Any, front_desk: Any) -> None:
    mine = make_patient(clinic_a, last_name="Alderton")
    theirs = make_patient(clinic_b, last_name="Harborview")
    overdue = raise_conflict(mine, field="middle_name", opened_ago=dt.timedelta(days=2))
    raise_conflict(mine, field="first_name", opened_ago=dt.timedelta(hours=1))
    raise_conflict(theirs, field="middle_name")
    failed = make_intent(mine, state=State.FAILED, updated_ago=dt.timedelta(hours=5))
    parked = make_intent(mine, state=State.PARKED, updated_ago=dt.timedelta(minutes=3))
    make_intent(theirs, state=State.PARKED)
    page = signed_in(front_desk).get("/admin/")
    panels = {panel.key: panel for panel in page.context["panels"]}
    conflicts = panels["sync-conflicts"].data
    assert conflicts.count == 2 and conflicts.rows[0].url.endswith(f"/conflict/{overdue.pk}/change/")
    assert conflicts.rows[0].urgent and not conflicts.rows[1].urgent
    assert conflicts.summary == "1 waiting over a day" and conflicts.oldest_age > dt.timedelta(days=1)
    writes = panels["sync-parked-writes"].data
    assert [row.url.rsplit("/", 3)[-3] for row in writes.rows] == [str(parked.pk), str(failed.pk)]
    assert writes.count == 2 and writes.rows[0].urgent
    html = page.content.decode()
    assert "Alderton" in html and "Harborview" not in html
    keys = [panel.key for panel in page.context["panels"]]
    assert keys.index("sync-conflicts") < keys.index("appointments-today")
