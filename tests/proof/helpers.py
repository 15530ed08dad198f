"""Shared by the proof suites: athena's notifications relayed into the hub, drains, open slots."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import Client

from hub.athena import build_athena_client
from sync.inbound import inbound_events_process_due
from sync.models import WriteIntent
from sync.portal_events import portal_events_deliver_due
from sync.services import intents_run_due
from tests.conftest import Sandbox


def relay_notifications(sandbox: Sandbox, *, after: int = 0) -> int:
    """Post every notification athena recorded after delivery `after` to the hub, signed as athena signs.

    The in-process sandbox keeps webhooks off (no hub listens on a port in these tests) but records
    each notification's exact body, so the hub receives the same bytes athena would have sent.
    Returns the id of the last delivery relayed (the next call's `after`).
    """
    deliveries = sandbox.control("GET", "webhooks", params={"body": "true", "since": after})["deliveries"]
    last = after
    for delivery in sorted(deliveries, key=lambda d: d["id"]):
        if delivery["id"] <= after or delivery.get("body") is None:
            continue
        raw = json.dumps(delivery["body"], separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(settings.ATHENA_WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        answer = Client().post(
            "/webhooks/athena/", raw, content_type="application/fhir+json", HTTP_X_HUB_SIGNATURE=signature
        )
        assert answer.status_code == 200, answer.content
        last = max(last, int(delivery["id"]))
    return last


def last_notification(sandbox: Sandbox) -> int:
    deliveries = sandbox.control("GET", "webhooks")["deliveries"]
    return max((int(d["id"]) for d in deliveries), default=0)


def process_inbound() -> None:
    client = build_athena_client()
    inbound_events_process_due(client=client, budget_seconds=20)
    portal_events_deliver_due(budget_seconds=20)


def drain_intents(rounds: int = 40) -> None:
    """Run the write-back ledger until every intent is final or parked (no waiting on backoff)."""
    client = build_athena_client()
    for _ in range(rounds):
        intents_run_due(client=client, budget_seconds=20)
        open_intents = WriteIntent.objects.exclude(state__in=[*WriteIntent.FINAL_STATES, "parked"])
        if not open_intents.exists():
            return
        # Backoff and the settle wait after an unknown outcome are the ledger's own; skip them.
        open_intents.filter(state__in=["pending", "ambiguous"]).update(next_attempt_at=dt.datetime.now(dt.UTC))
    raise AssertionError(f"intents still open: {list(open_intents.values_list('pk', 'state'))}")


def open_slots(sandbox: Sandbox, location: str, count: int, *, days_ahead: int = 1) -> list[dict[str, Any]]:
    """Open, API-bookable slots at a location from `days_ahead` days on (the sandbox's calendar)."""
    first_day = (dt.date.today() + dt.timedelta(days=days_ahead)).isoformat()  # noqa: DTZ011 - sandbox dates
    rows = sandbox.records("appointments", status="o", departmentid=location, limit=100000)["appointments"]
    slots = [a for a in rows if a["date"] >= first_day and a["api_bookable"] and not a["frozen"]]
    assert len(slots) >= count, f"only {len(slots)} open slots at {location}"
    return slots[:count]


def database_url() -> str:
    """The test database as a URL, for a hub process started by a test."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    host, port = params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    return f"postgres://{params['USER']}:{params['PASSWORD']}@{host}:{port}/{params['NAME']}"
