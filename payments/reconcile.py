"""Copay reconciliation: what athena expects for a visit against what the hub collected through Clover.

Each booked visit gets a `AppointmentCopay` row: paid, unpaid, no copay, mismatched (or not known
yet). Mismatches are the staff queue: paid more or less than athena's copay, paid for a visit
athena has cancelled, a payment Clover shows refunded or voided by someone outside the hub, a
payment athena knows no copay for. A mismatch that settles (e.g. the refund goes through) closes
by itself; one staff marked resolved stays resolved unless its reason changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import AthenaNotFoundError
from hub.integrations.athena.types import AthenaAppointment
from hub.models import Appointment, Department
from payments.models import AppointmentCopay, Payment, PaymentOperation
from sync.outbound import EffectState

Status = AppointmentCopay.Status


@dataclass(frozen=True)
class CopayFinding:
    status: str
    expected_cents: int | None
    collected_cents: int
    reason: str = ""


def _hub_refunds(payment: Payment) -> int:
    total = PaymentOperation.objects.filter(
        payment=payment, kind=PaymentOperation.Kind.REFUND, state=EffectState.SUCCEEDED
    ).aggregate(total=Sum("amount_cents"))["total"]
    return int(total or 0)


def copay_evaluate(*, athena_status: str, expected_cents: int | None, payments: Iterable[Payment]) -> CopayFinding:
    """Paid / unpaid / no copay / mismatched for one visit, from athena's view and the visit's payments."""
    payments = list(payments)
    if any(p.status in (Payment.Status.PROCESSING, Payment.Status.NEEDS_ATTENTION) for p in payments):
        return CopayFinding(Status.UNKNOWN, expected_cents, 0, "a payment is still being processed")
    collected = sum(p.net_cents for p in payments)
    outside = [
        p
        for p in payments
        if p.clover_charge_id
        and (
            (p.status == Payment.Status.VOIDED and not p.operations.filter(kind="void", state="succeeded").exists())
            or p.amount_refunded_cents > _hub_refunds(p)
        )
    ]
    if outside:
        return CopayFinding(
            Status.MISMATCHED, expected_cents, collected, "Clover shows a refund or void the hub did not make"
        )
    if athena_status == Appointment.Status.CANCELLED and collected > 0:
        return CopayFinding(Status.MISMATCHED, expected_cents, collected, "paid for a visit athena has cancelled")
    if expected_cents is None:
        if collected > 0:
            return CopayFinding(Status.MISMATCHED, None, collected, "paid, but athena names no copay for the visit")
        return CopayFinding(Status.UNKNOWN, None, 0, "athena names no copay for the visit")
    if collected == expected_cents:
        return CopayFinding(Status.PAID if collected else Status.NO_COPAY, expected_cents, collected)
    if collected == 0:
        return CopayFinding(Status.UNPAID, expected_cents, 0)
    return CopayFinding(
        Status.MISMATCHED,
        expected_cents,
        collected,
        f"collected {collected} cents, athena expects {expected_cents} cents",
    )


@transaction.atomic
def copay_record(*, appointment: Appointment, finding: CopayFinding) -> AppointmentCopay:
    """Store the visit's copay finding; a settled mismatch closes, a changed one reopens."""
    now = timezone.now()
    check = AppointmentCopay.objects.select_for_update().filter(appointment=appointment).first()
    if check is None:
        check = AppointmentCopay(appointment=appointment, department_id=appointment.department_id)
    was_open = check.pk is not None and check.is_open_mismatch
    reason_changed = check.reason != finding.reason
    check.patient_id = appointment.patient_id
    check.status, check.reason = finding.status, finding.reason[:200]
    check.expected_cents, check.collected_cents = finding.expected_cents, finding.collected_cents
    check.checked_at = now
    if finding.status == Status.MISMATCHED:
        if check.resolved_at is not None and reason_changed:
            check.resolved_at, check.resolved_by, check.resolution_note = None, None, ""
    elif was_open:
        check.resolved_at, check.resolution_note = now, f"settled by itself: now {finding.status}"
    check.save()
    return check


def _payments_of(appointment: Appointment) -> list[Payment]:
    return list(Payment.objects.filter(appointment=appointment, kind=Payment.Kind.COPAY))


def copay_reconcile_appointment(*, appointment: Appointment, athena: AthenaClient) -> AppointmentCopay:
    """Read the visit back from athena and record its copay finding."""
    try:
        current: AthenaAppointment | None = athena.get_appointment(appointment.athena_appointment_id)
    except AthenaNotFoundError:
        current = None
    finding = copay_evaluate(
        athena_status=current.status if current else Appointment.Status.CANCELLED,
        expected_cents=current.copay_cents if current else None,
        payments=_payments_of(appointment),
    )
    return copay_record(appointment=appointment, finding=finding)


def copays_reconcile(
    *, athena: AthenaClient, start: dt.date, end: dt.date, departments: Iterable[Department] | None = None
) -> int:
    """Reconcile every booked visit of a date range from athena's booked lists (one paged read per 10 locations)."""
    departments = list(departments if departments is not None else Department.objects.filter(is_active=True))
    checked = 0
    for offset in range(0, len(departments), 10):
        chunk = departments[offset : offset + 10]
        seen: dict[str, AthenaAppointment] = {}
        for row in athena.list_booked_appointments(
            department_ids=[d.athena_department_id for d in chunk], start_date=start, end_date=end, show_cancelled=True
        ):
            seen[row.appointment_id] = row
        appointments = Appointment.objects.filter(
            department__in=chunk, athena_appointment_id__in=list(seen), patient__isnull=False
        ).select_related("department")
        for appointment in appointments:
            current = seen[appointment.athena_appointment_id]
            finding = copay_evaluate(
                athena_status=current.status, expected_cents=current.copay_cents, payments=_payments_of(appointment)
            )
            copay_record(appointment=appointment, finding=finding)
            checked += 1
    return checked


@transaction.atomic
def copay_resolve(*, check: AppointmentCopay, user: object, note: str) -> AppointmentCopay:
    """Staff closed a mismatch (refunded at the desk, waived, corrected in athena...)."""
    locked = AppointmentCopay.objects.select_for_update().get(pk=check.pk)
    locked.resolved_at = timezone.now()
    locked.resolved_by = user  # type: ignore[assignment]
    locked.resolution_note = note[:300]
    locked.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    return locked
