"""Polling athena's changed-data feeds: the safety net under webhooks, feeding the same pipeline.

Feeds are destructive reads per API key, so each poll first peeks (`leaveunprocessed`) and stores
what it sees, then reads for real and stores again: a record is in our database before athena
marks it delivered. Records become inbound events keyed on resource and modification time, so a
change that also came by webhook is merged once and then recognised as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.coerce import to_datetime, to_str
from hub.integrations.athena.errors import AthenaPermanentError
from sync.inbound import NotificationEvent, events_store
from sync.models import FeedState, InboundEvent

FEEDS = {"patients": ("patient", "patientid"), "appointments": ("appointment", "appointmentid")}
# athena stamps changed-feed records in Eastern time.
ATHENA_FEED_ZONE = ZoneInfo("America/New_York")


def _event_for(feed: str, record: dict[str, Any]) -> NotificationEvent | None:
    resource_type, id_key = FEEDS[feed]
    resource_id = to_str(record.get(id_key))
    if not resource_id:
        return None
    modified = to_str(record.get("lastmodified") or record.get("lastupdated"))
    occurred = to_datetime(modified, ATHENA_FEED_ZONE) if modified else None
    fingerprint = modified or hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    status = to_str(record.get("appointmentstatus"))
    return NotificationEvent(
        event_id=f"{feed}:{resource_id}:{fingerprint}"[:120],
        topic=f"{feed}.changed{':' + status if status else ''}"[:60],
        resource_type=resource_type,
        resource_id=resource_id,
        department_id=to_str(record.get("departmentid") or record.get("primarydepartmentid")),
        occurred_at=occurred or timezone.now(),
    )


def _ensure_subscribed(client: AthenaClient, feed: str, state: FeedState) -> None:
    if state.subscribed_at is not None:
        return
    if not client.subscription_status(feed).active:
        client.subscribe(feed)
    state.subscribed_at = timezone.now()
    state.save(update_fields=["subscribed_at"])


def feeds_poll(*, client: AthenaClient) -> int:
    """Read every feed once; returns how many new events were stored."""
    stored = 0
    for feed in FEEDS:
        state, _ = FeedState.objects.get_or_create(feed=feed)
        _ensure_subscribed(client, feed, state)
        try:
            peeked = client.list_changed(feed, leave_unprocessed=True)
        except AthenaPermanentError:
            # athena forgot the subscription (403): subscribe again and read next time.
            state.subscribed_at = None
            state.save(update_fields=["subscribed_at"])
            _ensure_subscribed(client, feed, state)
            continue
        stored += events_store(
            source=InboundEvent.Source.FEED, events=[e for r in peeked if (e := _event_for(feed, r))]
        )
        taken = client.list_changed(feed)
        stored += events_store(source=InboundEvent.Source.FEED, events=[e for r in taken if (e := _event_for(feed, r))])
        state.last_polled_at = timezone.now()
        state.last_record_count = len(taken)
        state.save(update_fields=["last_polled_at", "last_record_count"])
    return stored
