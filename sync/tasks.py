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
    budget = float(getattr(settings, "HUB_INTENT_DRAIN_SECONDS", 50))
    with (
        context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR),
        set_actor(service_user()),
    ):
        return services.intents_run_due(client=athena_client(), budget_seconds=budget)


def sweep(correlation_id: str = "") -> None:
    """Scheduled safety net: if anything is due (a lost task, a retry whose time came), queue a run."""
    from django.utils import timezone

    from hub.queue import enqueue
    from sync.models import WriteIntent

    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        if WriteIntent.objects.due(now=timezone.now()).exists():
            enqueue("sync.tasks.run_intents")
