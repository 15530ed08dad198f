"""django-q2 tasks of the payments app. Each takes ids (or nothing) and calls one service."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from hub import context
from hub.athena import athena_client
from hub.models import Appointment
from hub.queue import nudge
from payments import reconcile, services
from payments.clover import clover_client
from payments.models import CloverWebhookHint, PaymentOperation

SERVICE_ACTOR = context.Actor(type="task", id="payments", label="payment worker")


def run_operations(correlation_id: str = "") -> int:
    """Carry due Clover operations out (a nudge; the rows are the truth)."""
    budget = float(getattr(settings, "HUB_INTENT_DRAIN_SECONDS", 50))
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        return services.operations_run_due(clover=clover_client(), budget_seconds=budget)


def process_clover_hints(correlation_id: str = "") -> int:
    """Read back the payments Clover's webhooks hinted at."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        return services.clover_hints_process(clover=clover_client())


def reconcile_appointment(appointment_id: int, correlation_id: str = "") -> str:
    """Re-check one visit's copay after one of its payments changed."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        appointment = Appointment.objects.select_related("department").get(pk=appointment_id)
        with context.call_scope(patient_ref=appointment.patient_id, department_ref=appointment.department_id):
            return reconcile.copay_reconcile_appointment(appointment=appointment, athena=athena_client()).status


def reconcile_copays(correlation_id: str = "") -> int:
    """Scheduled: read back recent payments from Clover, then check the copays of the last week and next two."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id(), actor=SERVICE_ACTOR):
        services.payments_poll_recent(clover=clover_client())
        today = timezone.now().date()
        return reconcile.copays_reconcile(
            athena=athena_client(), start=today - dt.timedelta(days=7), end=today + dt.timedelta(days=14)
        )


def sweep(correlation_id: str = "") -> None:
    """Scheduled safety net: queue a run when an operation or a webhook hint is waiting."""
    with context.bind(correlation_id=correlation_id or context.new_correlation_id()):
        if PaymentOperation.objects.due(now=timezone.now()).exists():
            nudge("payments.tasks.run_operations")
        if CloverWebhookHint.objects.filter(processed_at__isnull=True).exists():
            nudge("payments.tasks.process_clover_hints")
