"""django-q2 tasks of the notify app. Each takes ids (or nothing) and calls one service."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from hub import context
from hub.athena import athena_client
from hub.queue import nudge
from notify import services
from notify.models import OutboundMessage
from notify.twilio import twilio_client

SERVICE_ACTOR = context.Actor(type="task", id="notify", label="text message worker")


def send_due_messages(correlation_id: str = "") -> int:
    """Send the texts that are due (a nudge; the rows are the truth)."""
    budget = float(getattr(settings, "HUB_INTENT_DRAIN_SECONDS", 50))
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        return services.messages_run_due(client=twilio_client(), athena=athena_client(), budget_seconds=budget)


def plan_reminders(correlation_id: str = "") -> int:
    """Scheduled: plan the reminders and check-in links of visits starting in the next two days."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        return services.reminders_plan()


def sweep(correlation_id: str = "") -> None:
    """Scheduled safety net: if any text is due (a lost task, a deferred one whose time came), queue a run."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        if OutboundMessage.objects.due(now=timezone.now()).exists():
            nudge("notify.tasks.send_due_messages")
