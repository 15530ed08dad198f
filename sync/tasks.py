"""django-q2 tasks of the sync app. Each takes ids (or nothing) and calls one service."""

from __future__ import annotations

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth import get_user_model

from hub import context
from hub.athena import athena_client
from sync import services

SERVICE_ACTOR = context.Actor(type="task", id="ledger", label="write-back worker")


def service_user() -> object | None:
    return get_user_model().objects.filter(username="hub-service").first()


def run_intents(correlation_id: str = "") -> int:
    """Carry due write intents to athena until none are due soon (a nudge; the rows are the truth)."""
    budget = float(settings.HUB_INTENT_DRAIN_SECONDS)
    with (
        context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR),
        set_actor(service_user()),
    ):
        return services.intents_run_due(client=athena_client(), budget_seconds=budget)


def sweep(correlation_id: str = "") -> None:
    """Scheduled safety net: if anything is due (a lost task, a retry whose time came), queue a run."""
    from django.utils import timezone

    from hub.audit import recover_interrupted_calls
    from hub.queue import nudge
    from sync.models import InboundEvent, PortalEvent, WriteIntent
    from sync.portal_events import due_events

    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        recover_interrupted_calls()  # calls whose process was killed before it audited them
        now = timezone.now()
        if WriteIntent.objects.due(now=now).exists():
            nudge("sync.tasks.run_intents")
        if InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, next_attempt_at__lte=now).exists():
            nudge("sync.tasks.process_inbound_events")
        if due_events(now).exists() and PortalEvent.objects.exists():
            nudge("sync.tasks.deliver_portal_events")


def process_inbound_events(correlation_id: str = "") -> int:
    """Inflate and merge received athena events, then push the portal events they made."""
    from sync.inbound import inbound_events_process_due
    from sync.portal_events import portal_events_deliver_due

    with (
        context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR),
        set_actor(service_user()),
    ):
        processed = inbound_events_process_due(client=athena_client())
        # Deliver in the same task: a second queue hop would cost more than the whole change path.
        portal_events_deliver_due(budget_seconds=10)
        return processed


def deliver_portal_events(correlation_id: str = "") -> int:
    """Deliver due portal events (new ones and retries whose time came)."""
    from sync.portal_events import portal_events_deliver_due

    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        return portal_events_deliver_due()


def poll_changed_feeds(correlation_id: str = "") -> int:
    """Scheduled safety net: read athena's changed-data feeds into the same pipeline as webhooks."""
    from sync.feeds import feeds_poll

    with (
        context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR),
        set_actor(service_user()),
    ):
        return feeds_poll(client=athena_client())
