"""athena's daily quota runs out, athena's webhooks stop for an hour, the portal goes offline.

- Quota: with athena answering 429 until midnight, accepted writes wait as pending with their
  `next_attempt_at` at athena's Retry-After (no attempts burnt, nothing parked, nothing lost), the
  `athena-quota` alert opens, and once the quota is back the scheduled sweeper alone gets them
  written, once each.
- Webhooks off for an hour of athena's time, with many front-desk edits: the changed-data feed
  poller (the scheduled task) brings every last value into the hub and to the portal, none missing.
- The portal offline: deliveries fail and wait; the portal backfills through `GET /api/v1/events`
  page by page with no gap, then deliveries resume and each event arrives once.

Time that would pass (midnight, an hour, retry backoff) is simulated by moving the sandbox's clock
or the rows' own due times, the way the clock would move them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from hub.alerts import alerts_evaluate
from hub.athena import build_athena_client
from hub.models import Alert, Patient, RateLimitBucket
from sync import tasks
from sync.feeds import feeds_poll
from sync.models import InboundEvent, PortalEvent, WriteIntent
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox, TaskQueue
from tests.factories import letters, make_department, make_practice
from tests.proof.helpers import drain_intents, process_inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def boston(sandbox: Sandbox, settings: Any) -> Portal:
    settings.PORTAL_WEBHOOK_URL = f"{sandbox.url}/_portal/webhooks"
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    return make_portal("gaps-portal", locations=["1"])


def test_when_athenas_quota_runs_out_writes_wait_alert_and_drain_on_their_own(
    boston: Portal, sandbox: Sandbox, task_queue: TaskQueue
) -> None:
    sandbox.control("PUT", "quota", json={"remaining": 0})
    for n in range(6):
        body = registration(last_name=f"Quotawait{letters(n)}", email=f"quota{n}@example.test")
        assert boston.post("/api/v1/patients", body).status_code == 202
    started = timezone.now()
    for _ in range(3):  # workers come round again and again while the quota is out
        tasks.run_intents()

    intents = list(WriteIntent.objects.all())
    assert {intent.state for intent in intents} == {"pending"}
    assert max(intent.attempts for intent in intents) <= 1  # waiting does not burn attempts
    assert sandbox.requests(status=429), "athena never said the quota was out"
    # athena's quota resets at midnight GMT and its 429 says how long that is.
    midnight = (started + dt.timedelta(days=1)).astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    wait = min(intent.next_attempt_at for intent in intents) - started
    assert wait >= midnight - started - dt.timedelta(seconds=5), f"intents retry in {wait}, before the quota resets"
    assert sandbox.records("patients", created_via="api")["patients"] == []  # nothing reached athena
    assert RateLimitBucket.objects.get().paused_until >= midnight.timestamp() - 5

    alerts_evaluate()
    alert = Alert.objects.get(condition="athena-quota", closed_at=None)
    assert "0 of" in alert.summary

    # Midnight: athena's quota is back. Our clock reaches the pause and the intents' due time.
    sandbox.control("PUT", "quota", json={"remaining": 50000})
    RateLimitBucket.objects.update(paused_until=0)
    for intent in intents:
        WriteIntent.objects.filter(pk=intent.pk).update(next_attempt_at=intent.next_attempt_at - wait)
    task_queue.clear()  # the stale nudges are gone; the sweeper must find the work itself
    with task_queue.capture():
        tasks.sweep()
    assert [queued["func"] for queued in task_queue.tasks()] == ["sync.tasks.run_intents"]
    tasks.run_intents()

    assert set(WriteIntent.objects.values_list("state", flat=True)) == {"succeeded"}
    charts = sandbox.records("patients", created_via="api")
    assert len(charts["patients"]) == 6 and charts["duplicates"] == []
    # Another worker's next athena call reports the quota afresh (each process writes the gauge at
    # most every 10 s), and the alert clears once the reading has stayed good long enough.
    build_athena_client().list_appointment_types()
    later = timezone.now() + dt.timedelta(minutes=settings.HUB_ALERT_CLEAR_AFTER_MINUTES + 1)
    alerts_evaluate(now=later)
    assert Alert.objects.get(pk=alert.pk).closed_at is not None


def test_an_hour_without_webhooks_is_caught_up_by_the_changed_feed_poller(boston: Portal, sandbox: Sandbox) -> None:
    client = build_athena_client()
    feeds_poll(client=client)  # the subscription exists before the gap
    charts = [p for _, p in zip(range(12), client.search_patients(department_id="1"), strict=False)]
    assert sandbox.control("GET", "config")["webhook"]["enabled"] is False  # athena sends nothing

    # An hour of the front desk's edits, one a minute of athena's time; some patients more than once.
    final: dict[str, dict[str, str]] = {}
    streets = itertools.cycle(["Elm", "Oak", "Ash", "Birch", "Cedar"])
    for minute in range(60):
        sandbox.configure(clock_offset_seconds=minute * 60)
        chart = charts[minute % len(charts)]
        fields = {"homephone": f"802555{minute:04d}", "address1": f"{minute + 1} {next(streets)} Street"}
        sandbox.edit({"type": "patient.update", "patientid": chart.patient_id, "fields": fields})
        final[chart.patient_id] = fields
    suppressed = sandbox.control("GET", "webhooks", params={"status": "suppressed"})["deliveries"]
    assert len(suppressed) >= 60 and not InboundEvent.objects.exists()

    tasks.poll_changed_feeds()  # the scheduled safety net
    process_inbound()

    missing = {
        athena_id: fields
        for athena_id, fields in final.items()
        if (patient := Patient.objects.filter(athena_patient_id=athena_id).first()) is None
        or (patient.home_phone, patient.address1) != (fields["homephone"], fields["address1"])
    }
    assert missing == {}, f"{len(missing)} of {len(final)} patients missed their last change"
    announced = PortalEvent.objects.filter(patient__athena_patient_id__in=final).values_list(
        "patient__athena_patient_id", flat=True
    )
    assert set(announced) == set(final)
    assert tasks.poll_changed_feeds() == 0  # read once: nothing comes twice


def test_the_portal_offline_backfills_through_the_events_api_then_gets_each_event_once(
    boston: Portal, sandbox: Sandbox
) -> None:
    sandbox.configure(portal={"respond_status": 503})
    for n in range(7):
        body = registration(last_name=f"Offline{letters(n)}", email=f"offline{n}@example.test")
        assert boston.post("/api/v1/patients", body).status_code == 202
    drain_intents()
    process_inbound()
    made = list(PortalEvent.objects.order_by("pk").values_list("public_id", flat=True))
    assert len(made) >= 7
    assert not PortalEvent.objects.filter(state="delivered").exists()  # the portal is down

    # The portal backfills: small pages, each starting at the last cursor it has.
    seen, cursor = [], 0
    for _ in range(20):
        page = boston.get("/api/v1/events", after=cursor, limit=3).json()
        seen += [event["id"] for event in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == made  # every event, in order, none twice

    # The portal is back; the retries come due (their backoff elapsed) and deliver.
    sandbox.configure(portal={"respond_status": 204})
    for _ in range(5):
        PortalEvent.objects.exclude(state="delivered").update(next_attempt_at=timezone.now())
        process_inbound()
    assert set(PortalEvent.objects.values_list("state", flat=True)) == {"delivered"}
    deliveries = sandbox.control("GET", "../_portal/webhooks")["deliveries"]
    accepted = [d["webhook_id"] for d in deliveries if d["verified"] and d.get("status", 204) == 204]
    assert set(made) <= set(accepted)
