"""Retention: payloads purged after `HUB_PAYLOAD_RETENTION_DAYS`, audit rows after `HUB_AUDIT_RETENTION_DAYS`.

Payloads (card images, raw event bodies, X12 documents) belong to other apps, which register a
purger each:

    from hub.retention import register_payload_purger

    def purge_card_images(before: datetime) -> int:
        '''Delete card image files and rows older than `before`; return how many.'''
        ...

    register_payload_purger("card-images", purge_card_images)

A purger must be idempotent (it runs daily, and again after a failure) and must not raise for
"nothing to do". Each purger's run writes one audit row (action `purge`, object_type = its name,
detail: deleted count and cut-off), failures included (outcome 8, exception class only).

Audit rows are deleted from the oldest end only, so the chain stays one unbroken run of rows:
everything below the first row newer than the cut-off goes. The database triggers refuse any
delete at or above `AuditChainHead.purge_below_sequence`; the purge raises that bound inside
its own short transactions (batches, so SQLite's single writer is not held for long) and puts
it back to 0. The verifier trusts the oldest kept row's link, so the chain still verifies.
The purge then writes its own audit row (object_type `auditevent`).

`purge_expired()` runs both; `python manage.py purge_expired` and a daily django-q2 schedule
(`hub.tasks.purge_expired_task`) call it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import context
from hub.audit import audit_record
from hub.audit_browser import CLOCK_SLACK
from hub.models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

PURGE = "purge"
AUDIT_PURGE_BATCH = 10_000
RETENTION_ACTOR = context.Actor(type="task", id="retention", label="retention purge")

PayloadPurger = Callable[[dt.datetime], int]
_purgers: dict[str, PayloadPurger] = {}


def register_payload_purger(name: str, purger: PayloadPurger) -> None:
    """Register `purger(before) -> deleted count` under a short name (used as the audit object type)."""
    _purgers[name] = purger


def unregister_payload_purger(name: str) -> None:
    _purgers.pop(name, None)


def registered_purgers() -> dict[str, PayloadPurger]:
    return dict(_purgers)


@dataclass
class PurgeReport:
    payloads: dict[str, int | None]
    audit_rows: int
    audit_cutoff: dt.datetime
    payload_cutoff: dt.datetime


def _purge_record(
    *, object_type: str, deleted: int | None, before: dt.datetime, failure: str = "", **extra: object
) -> None:
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=PURGE,
        actor=RETENTION_ACTOR,
        object_type=object_type[:40],
        outcome=AuditEvent.Outcome.SERIOUS_FAILURE if failure else AuditEvent.Outcome.SUCCESS,
        outcome_detail=failure,
        detail={"deleted": deleted, "before": before.isoformat(), **extra},
    )


def payloads_purge(*, now: dt.datetime | None = None) -> dict[str, int | None]:
    """Run every registered payload purger with the payload cut-off; None marks a failed purger."""
    now = now or timezone.now()
    before = now - dt.timedelta(days=settings.HUB_PAYLOAD_RETENTION_DAYS)
    results: dict[str, int | None] = {}
    for name, purger in list(_purgers.items()):
        try:
            deleted = int(purger(before))
        except Exception as exc:
            # Class name only: a purger's exception text could quote what it was deleting.
            logger.error("payload purger %s failed: %s", name, type(exc).__name__)
            results[name] = None
            _purge_record(object_type=name, deleted=None, before=before, failure=type(exc).__name__)
            continue
        results[name] = deleted
        _purge_record(object_type=name, deleted=deleted, before=before)
    return results


def audit_purge_boundary(before: dt.datetime) -> int | None:
    """The lowest sequence to keep, or None when nothing is old enough.

    Found through the recorded_at index. The slack keeps rows whose timestamp ran slightly
    behind their sequence from going early; a newest row is always kept as the chain's anchor.
    """
    last_old = (
        AuditEvent.objects.filter(recorded_at__lt=before - CLOCK_SLACK)
        .order_by("-recorded_at")
        .values_list("sequence", flat=True)
        .first()
    )
    if last_old is None:
        return None
    newest = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or last_old
    return min(last_old + 1, newest)


@transaction.atomic
def _delete_batch(below: int) -> int:
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    head.purge_below_sequence = below
    head.save(update_fields=["purge_below_sequence"])
    deleted, _ = AuditEvent.objects.filter(sequence__lt=below).delete()
    head.purge_below_sequence = 0
    head.save(update_fields=["purge_below_sequence"])
    return deleted


def audit_purge(*, now: dt.datetime | None = None, batch: int = AUDIT_PURGE_BATCH) -> int:
    """Delete audit rows older than the audit retention from the oldest end; audited. Returns rows deleted."""
    now = now or timezone.now()
    before = now - dt.timedelta(days=settings.HUB_AUDIT_RETENTION_DAYS)
    keep_from = audit_purge_boundary(before)
    deleted = 0
    oldest = AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True).first()
    if keep_from is not None and oldest is not None:
        bound = oldest
        while bound < keep_from:
            bound = min(bound + batch, keep_from)
            deleted += _delete_batch(bound)
    _purge_record(object_type="auditevent", deleted=deleted, before=before, kept_from_sequence=keep_from)
    return deleted


def purge_expired(*, now: dt.datetime | None = None) -> PurgeReport:
    """Purge expired payloads and audit rows (the daily retention job)."""
    now = now or timezone.now()
    with context.bind(actor=RETENTION_ACTOR):
        payloads = payloads_purge(now=now)
        audit_rows = audit_purge(now=now)
    return PurgeReport(
        payloads=payloads,
        audit_rows=audit_rows,
        audit_cutoff=now - dt.timedelta(days=settings.HUB_AUDIT_RETENTION_DAYS),
        payload_cutoff=now - dt.timedelta(days=settings.HUB_PAYLOAD_RETENTION_DAYS),
    )
