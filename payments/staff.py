"""What staff see of payments: the copay mismatch queue on the home page, a location column, an alert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from hub.alerts import Finding, register_alert_condition
from hub.staff_home import PanelData, PanelRow, register_panel, relative
from payments.models import AppointmentCopay, PaymentOperation

ROW_LIMIT = 20


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents // 100}.{cents % 100:02d}"


def open_mismatches(user: object) -> object:
    return AppointmentCopay.objects.for_user(user).filter(status=AppointmentCopay.Status.MISMATCHED, resolved_at=None)


def copay_mismatches(request: HttpRequest) -> PanelData:
    """Visits whose copay does not match what was collected, at the user's locations, oldest first."""
    now = timezone.now()
    queue = open_mismatches(request.user).select_related("department", "appointment")  # type: ignore[attr-defined]
    rows = list(queue.order_by("checked_at")[:ROW_LIMIT])
    return PanelData(
        columns=["Visit", "Location", "Patient", "athena copay", "Collected", "Why", "Checked"],
        rows=[
            PanelRow(
                cells=[
                    f"{check.appointment.date:%b %d} {check.appointment.start_time:%H:%M}",
                    check.department.name,
                    f"#{check.patient_id}" if check.patient_id else "—",
                    _money(check.expected_cents),
                    _money(check.collected_cents),
                    check.reason,
                    relative(check.checked_at, now),
                ],
                url=reverse("admin:payments_appointmentcopay_change", args=[check.pk]),
                urgent=True,
            )
            for check in rows
        ],
        count=queue.count(),
        more_url=reverse("admin:payments_appointmentcopay_changelist") + "?status__exact=mismatched",
        empty_message="Every checked copay matches what was collected.",
    )


def check_parked_operations(now: dt.datetime) -> Iterable[Finding]:
    parked = PaymentOperation.objects.filter(state="parked").count()
    if parked:
        yield Finding(subject="parked", summary=f"{parked} payment operation(s) parked for staff")


def register() -> None:
    register_panel(
        "copay-mismatches",
        "Copay mismatches",
        copay_mismatches,
        permission="payments.view_appointmentcopay",
        priority=25,
    )
    register_alert_condition("payments-parked", "Payment operations are parked", check_parked_operations)
