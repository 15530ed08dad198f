"""Services of the payments app: payment intents, charges/refunds/voids through Clover, webhook hints, polling.

The portal creates a payment intent (an appointment's copay, read from athena, or a balance), then
completes it with a Clover card token. Each financial call is a `PaymentOperation` row written in
that transaction with its `Idempotency-Key` already chosen; a worker sends it outside any
transaction and settles the outcome. After an unknown outcome the call is sent again with the same
key, which Clover answers with the first result instead of charging again — as long as Clover still
remembers the key (`CLOVER_IDEMPOTENCY_WINDOW_HOURS`); past that the operation is parked for staff.
Clover's webhooks are only hints: every change is confirmed by reading the charge back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import context
from hub.integrations.athena.client import AthenaClient
from hub.integrations.clover.client import CloverCharge, CloverClient
from hub.integrations.clover.errors import (
    CloverAmbiguousError,
    CloverDeclinedError,
    CloverNotFoundError,
    CloverPermanentError,
    CloverTransientError,
)
from hub.models import Appointment, Department, Patient
from hub.queue import enqueue, nudge
from payments.models import CloverWebhookHint, Payment, PaymentOperation
from sync.outbound import (
    EffectState,
    backoff_delay,
    effect_claim,
    effect_error_values,
    effect_retry,
    effect_settle,
    effect_transition,
)

logger = logging.getLogger(__name__)

State = EffectState
Op = PaymentOperation.Kind
VOID_WINDOW = dt.timedelta(minutes=25)  # Clover voids a card payment only this soon after it
OPEN_PAYMENT_STATES = (Payment.Status.REQUIRES_PAYMENT_METHOD, Payment.Status.PROCESSING)


class PaymentRefused(Exception):
    """A request the payment cannot take (shown to the portal as a problem with this status and code)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def lease_seconds() -> float:
    return float(getattr(settings, "HUB_INTENT_LEASE_SECONDS", 60))


def worker_name() -> str:
    from sync.services import worker_name as ledger_worker_name

    return ledger_worker_name()


# --- intents --------------------------------------------------------------------------------------


def copay_expected(*, appointment: Appointment, athena: AthenaClient) -> int | None:
    """athena's expected copay for the visit, read now (cents; None when athena does not say)."""
    return athena.get_appointment(appointment.athena_appointment_id).copay_cents


@transaction.atomic
def payment_intent_create(
    *, patient: Patient, department: Department, kind: str, amount_cents: int, appointment: Appointment | None = None
) -> Payment:
    """A payment waiting for its card; a copay already waiting for the same visit is returned instead."""
    if amount_cents <= 0:
        raise PaymentRefused(422, "nothing-to-pay", "There is nothing to pay.")
    if kind == Payment.Kind.COPAY and appointment is not None:
        existing = Payment.objects.select_for_update().filter(appointment=appointment, kind=Payment.Kind.COPAY)
        if existing.filter(status=Payment.Status.SUCCEEDED).exists():
            raise PaymentRefused(409, "copay-already-paid", "The copay of this visit is already paid.")
        waiting = existing.filter(status__in=OPEN_PAYMENT_STATES, amount_cents=amount_cents).first()
        if waiting is not None:
            return waiting
    return Payment.objects.create(
        patient=patient,
        department=department,
        appointment=appointment,
        kind=kind,
        amount_cents=amount_cents,
        currency="usd",
    )


def _operation_create(
    *,
    payment: Payment,
    kind: str,
    amount_cents: int,
    natural_key: str,
    requested_by: str,
    reason: str = "",
    card_token: str = "",
) -> PaymentOperation:
    operation = PaymentOperation.objects.create(
        payment=payment,
        kind=kind,
        amount_cents=amount_cents,
        natural_key=natural_key[:200],
        # Chosen and stored before the first attempt; every retry sends this same key.
        idempotency_key=uuid.uuid4().hex,
        card_token=card_token,
        requested_by=requested_by[:150],
        reason=reason[:200],
        next_attempt_at=timezone.now(),
    )
    operation.events.create(from_state="", to_state=operation.state, note="created", actor=requested_by[:150])
    nudge("payments.tasks.run_operations")
    return operation


@transaction.atomic
def payment_complete(*, payment: Payment, card_token: str, requested_by: str) -> Payment:
    """The portal hands over the card token: queue the charge (once per payment)."""
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status != Payment.Status.REQUIRES_PAYMENT_METHOD:
        raise PaymentRefused(409, "payment-already-submitted", "This payment was already completed.")
    _operation_create(
        payment=locked,
        kind=Op.CHARGE,
        amount_cents=locked.amount_cents,
        natural_key=f"charge:{locked.public_id}",
        requested_by=requested_by,
        card_token=card_token,
    )
    locked.status = Payment.Status.PROCESSING
    locked.save(update_fields=["status", "updated_at"])
    return locked


def refundable_cents(payment: Payment) -> int:
    """What may still be refunded: the amount less refunds made and refunds on their way."""
    pending = sum(
        PaymentOperation.objects.filter(payment=payment, kind=Op.REFUND)
        .exclude(state__in=[State.SUCCEEDED, State.FAILED, State.CANCELLED, State.SKIPPED])
        .values_list("amount_cents", flat=True)
    )
    return max(0, payment.amount_cents - payment.amount_refunded_cents - pending)


@transaction.atomic
def payment_refund_request(
    *, payment: Payment, amount_cents: int, reason: str, requested_by: str, request_key: str
) -> PaymentOperation:
    """Queue a refund of part or all of a paid payment; more than is left is refused."""
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    natural_key = f"refund:{locked.public_id}:{request_key}"
    existing = PaymentOperation.objects.filter(natural_key=natural_key[:200]).first()
    if existing is not None:
        return existing
    if locked.status != Payment.Status.SUCCEEDED:
        raise PaymentRefused(409, "payment-not-refundable", "Only a paid payment can be refunded.")
    if amount_cents <= 0:
        raise PaymentRefused(422, "invalid-amount", "A refund must be at least one cent.")
    left = refundable_cents(locked)
    if amount_cents > left:
        raise PaymentRefused(
            422, "refund-exceeds-payment", f"At most {left} cents of this payment can still be refunded."
        )
    return _operation_create(
        payment=locked,
        kind=Op.REFUND,
        amount_cents=amount_cents,
        natural_key=natural_key,
        requested_by=requested_by,
        reason=reason,
    )


@transaction.atomic
def payment_reverse(*, payment: Payment, requested_by: str, reason: str) -> PaymentOperation:
    """Undo a paid payment: a void while Clover still allows one (25 minutes, no refunds), else a full refund."""
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status != Payment.Status.SUCCEEDED:
        raise PaymentRefused(409, "payment-not-refundable", "Only a paid payment can be reversed.")
    voidable = (
        locked.paid_at is not None
        and timezone.now() - locked.paid_at < VOID_WINDOW
        and locked.amount_refunded_cents == 0
        and refundable_cents(locked) == locked.amount_cents
    )
    if voidable:
        return _operation_create(
            payment=locked,
            kind=Op.VOID,
            amount_cents=locked.amount_cents,
            natural_key=f"void:{locked.public_id}",
            requested_by=requested_by,
            reason=reason,
        )
    left = refundable_cents(locked)
    if left <= 0:
        raise PaymentRefused(409, "payment-not-refundable", "Nothing is left to refund.")
    return _operation_create(
        payment=locked,
        kind=Op.REFUND,
        amount_cents=left,
        natural_key=f"refund:{locked.public_id}:reverse:{uuid.uuid4().hex}",
        requested_by=requested_by,
        reason=reason,
    )


# --- carrying operations out ---------------------------------------------------------------------


def _after_charge(charge: CloverCharge) -> Any:
    def apply(operation: PaymentOperation) -> None:
        payment = Payment.objects.select_for_update().get(pk=operation.payment_id)
        payment.clover_charge_id = charge.charge_id
        payment.amount_refunded_cents = charge.amount_refunded
        payment.status = Payment.Status.SUCCEEDED if charge.succeeded else Payment.Status.FAILED
        payment.paid_at = payment.paid_at or timezone.now()
        payment.save(update_fields=["clover_charge_id", "amount_refunded_cents", "status", "paid_at", "updated_at"])
        _reconcile_later(payment)

    return apply


def _after_refund(amount_cents: int) -> Any:
    def apply(operation: PaymentOperation) -> None:
        payment = Payment.objects.select_for_update().get(pk=operation.payment_id)
        payment.amount_refunded_cents = min(payment.amount_cents, payment.amount_refunded_cents + amount_cents)
        if payment.amount_refunded_cents >= payment.amount_cents:
            payment.status = Payment.Status.REFUNDED
        payment.save(update_fields=["amount_refunded_cents", "status", "updated_at"])
        _reconcile_later(payment)

    return apply


def _after_void(operation: PaymentOperation) -> None:
    payment = Payment.objects.select_for_update().get(pk=operation.payment_id)
    payment.status = Payment.Status.VOIDED
    payment.save(update_fields=["status", "updated_at"])
    _reconcile_later(payment)


def _payment_status(operation: PaymentOperation, status: str, failure_code: str = "") -> Any:
    def apply(_operation: PaymentOperation) -> None:
        if operation.kind != Op.CHARGE:
            return  # a refused refund or void leaves the payment as it was; the copay check shows it
        Payment.objects.filter(pk=operation.payment_id).update(
            status=status, failure_code=failure_code[:40], updated_at=timezone.now()
        )

    return apply


def _reconcile_later(payment: Payment) -> None:
    if payment.appointment_id is not None:
        enqueue("payments.tasks.reconcile_appointment", payment.appointment_id)


def _settle(operation_id: int, to: str, note: str, **values: Any) -> PaymentOperation:
    return effect_settle(
        model=PaymentOperation,
        effect_id=operation_id,
        to=to,
        note=note,
        expect=(State.IN_FLIGHT, State.RECONCILING),
        **values,
    )


def _send(operation: PaymentOperation, clover: CloverClient) -> None:
    payment = operation.payment
    if operation.kind == Op.CHARGE:
        metadata = {"payment": str(payment.public_id), "kind": payment.kind}
        if payment.appointment_id:
            metadata["appointment"] = payment.appointment.athena_appointment_id if payment.appointment else ""
        charge = clover.create_charge(
            amount_cents=operation.amount_cents,
            source=operation.card_token,
            idempotency_key=operation.idempotency_key,
            description=f"{payment.get_kind_display()} {payment.public_id}",
            metadata=metadata,
        )
        _settle(
            operation.pk,
            State.SUCCEEDED,
            "charged" if charge.succeeded else f"charge {charge.status}",
            after=_after_charge(charge),
            clover_object_id=charge.charge_id,
            card_token="",
            last_error="",
            last_error_kind="",
        )
    elif operation.kind == Op.REFUND:
        refund = clover.create_refund(
            charge_id=payment.clover_charge_id,
            amount_cents=operation.amount_cents,
            idempotency_key=operation.idempotency_key,
            metadata={"payment": str(payment.public_id)},
        )
        _settle(
            operation.pk,
            State.SUCCEEDED,
            "refunded",
            after=_after_refund(refund.amount),
            clover_object_id=refund.refund_id,
            last_error="",
            last_error_kind="",
        )
    else:
        clover.void_charge(charge_id=payment.clover_charge_id, idempotency_key=operation.idempotency_key)
        _settle(operation.pk, State.SUCCEEDED, "voided", after=_after_void, last_error="", last_error_kind="")


def _carry(operation: PaymentOperation, clover: CloverClient) -> None:
    if operation.state == State.RECONCILING:
        window = dt.timedelta(hours=settings.CLOVER_IDEMPOTENCY_WINDOW_HOURS)
        if operation.first_attempt_at is not None and timezone.now() - operation.first_attempt_at > window:
            # Clover may have forgotten the key: a resend could charge twice. A person decides.
            note = "outcome unknown past Clover's Idempotency-Key window; check the Clover dashboard"
            _settle(
                operation.pk,
                State.PARKED,
                note,
                after=_payment_status(operation, Payment.Status.NEEDS_ATTENTION),
                last_error=note,
                last_error_kind="needs_staff",
            )
            return
        with transaction.atomic():
            locked = PaymentOperation.objects.select_for_update().get(pk=operation.pk)
            if locked.state != State.RECONCILING:
                return
            locked.must_reconcile = False
            effect_transition(
                effect=locked,
                to=State.IN_FLIGHT,
                note="resending under the same Idempotency-Key (Clover answers the first result)",
                update_fields=("must_reconcile",),
            )
        operation.state = locked.state
    PaymentOperation.objects.filter(pk=operation.pk, first_attempt_at__isnull=True).update(
        first_attempt_at=timezone.now()
    )
    try:
        _send(operation, clover)
    except CloverDeclinedError as exc:
        _settle(
            operation.pk,
            State.FAILED,
            "card declined",
            after=_payment_status(operation, Payment.Status.FAILED, "card_declined"),
            clover_object_id=exc.charge_id,
            card_token="",
            **effect_error_values(exc, "permanent"),
        )
    except CloverAmbiguousError as exc:
        # Safe to resend soon: the same Idempotency-Key makes Clover answer the first result.
        _settle(
            operation.pk,
            State.AMBIGUOUS,
            "outcome unknown",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=backoff_delay(operation.attempts)),
            must_reconcile=True,
            **effect_error_values(exc, "ambiguous"),
        )
    except CloverTransientError as exc:
        current = PaymentOperation.objects.get(pk=operation.pk)
        to = State.AMBIGUOUS if current.state == State.RECONCILING else State.PENDING
        delay = backoff_delay(operation.attempts, exc.retry_after)
        _settle(
            operation.pk,
            to,
            "transient failure",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            **effect_error_values(exc, "transient"),
        )
    except CloverPermanentError as exc:
        _settle(
            operation.pk,
            State.FAILED,
            "Clover refused",
            after=_payment_status(operation, Payment.Status.FAILED, exc.code or "refused"),
            card_token="",
            **effect_error_values(exc, "permanent"),
        )


def operation_execute(*, operation_id: int, clover: CloverClient, worker: str | None = None) -> bool:
    """Claim one due Clover operation and carry it as far as it goes now; False if it was not claimable."""
    operation = effect_claim(
        model=PaymentOperation, effect_id=operation_id, worker=worker or worker_name(), lease_seconds=lease_seconds()
    )
    if operation is None:
        parked = PaymentOperation.objects.filter(pk=operation_id, state=State.PARKED, kind=Op.CHARGE).first()
        if parked is not None:
            Payment.objects.filter(pk=parked.payment_id, status=Payment.Status.PROCESSING).update(
                status=Payment.Status.NEEDS_ATTENTION
            )
        return False
    operation = PaymentOperation.objects.select_related("payment__appointment").get(pk=operation.pk)
    payment = operation.payment
    scope = {
        "object_id": str(payment.public_id),
        "attempt": operation.attempts,
        "patient_ref": payment.patient_id,
        "department_ref": payment.department_id,
    }
    with context.call_scope(**scope):
        try:
            _carry(operation, clover)
        except Exception as exc:
            logger.exception("payment operation %s failed unexpectedly", operation.pk)
            note = f"unexpected error: {type(exc).__name__}"
            _settle(
                operation.pk,
                State.PARKED,
                note,
                after=_payment_status(operation, Payment.Status.NEEDS_ATTENTION),
                last_error=note,
                last_error_kind="bug",
            )
    return True


def operations_run_due(*, clover: CloverClient, budget_seconds: float = 50.0, batch: int = 20) -> int:
    """Work through due Clover operations until none are due soon or the time budget is spent."""
    worker = worker_name()
    deadline = time.monotonic() + budget_seconds
    done = 0
    while time.monotonic() < deadline:
        now = timezone.now()
        ids = list(PaymentOperation.objects.due(now=now).values_list("pk", flat=True)[:batch])
        if not ids:
            upcoming = (
                PaymentOperation.objects.filter(state__in=[State.PENDING, State.AMBIGUOUS], next_attempt_at__gt=now)
                .order_by("next_attempt_at")
                .values_list("next_attempt_at", flat=True)
                .first()
            )
            wait = (upcoming - now).total_seconds() if upcoming else None
            if wait is None or wait > 5.0 or time.monotonic() + wait > deadline:
                break
            time.sleep(max(0.05, wait))
            continue
        progressed = False
        for operation_id in ids:
            if operation_execute(operation_id=operation_id, clover=clover, worker=worker):
                progressed = True
                done += 1
        if not progressed:
            time.sleep(0.05)
    return done


def operation_retry(*, operation: PaymentOperation, actor: str, reason: str) -> PaymentOperation:
    """Staff send a parked or failed operation back; it resends under its own Idempotency-Key."""
    retried = effect_retry(model=PaymentOperation, effect=operation, actor=actor, reason=reason)
    nudge("payments.tasks.run_operations")
    return retried


# --- Clover's side: webhook hints and polling ---------------------------------------------------------


def clover_hints_store(*, body: dict[str, Any]) -> int:
    """Store the payment ids a Clover webhook names (once each) and queue a read-back; returns how many were new."""
    new = 0
    merchants = body.get("merchants") if isinstance(body, dict) else None
    if not isinstance(merchants, dict):
        return 0
    with transaction.atomic():
        for merchant_id, changes in merchants.items():
            if merchant_id != settings.CLOVER_MERCHANT_ID or not isinstance(changes, list):
                continue
            for change in changes:
                if not isinstance(change, dict):
                    continue
                object_id = str(change.get("objectId", ""))
                if not object_id.startswith("P:"):
                    continue  # only payments matter here (orders, customers... are not the hub's)
                key = f"{object_id}|{change.get('type', '')}|{change.get('ts', '')}"[:120]
                _hint, created = CloverWebhookHint.objects.get_or_create(
                    event_key=key, defaults={"object_id": object_id[2:62], "change": str(change.get("type", ""))[:16]}
                )
                new += int(created)
        if new:
            nudge("payments.tasks.process_clover_hints")
    return new


def _find_payment(charge: CloverCharge) -> Payment | None:
    payment = Payment.objects.filter(clover_charge_id=charge.charge_id).first()
    if payment is None and charge.metadata.get("payment"):
        try:
            payment = Payment.objects.filter(public_id=uuid.UUID(str(charge.metadata["payment"]))).first()
        except ValueError:
            payment = None
    return payment


def payment_apply_charge(*, payment: Payment, charge: CloverCharge) -> bool:
    """Take Clover's view of a charge onto the payment (and settle its unknown charge); True if anything changed."""
    changed = False
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        ambiguous = PaymentOperation.objects.filter(payment=locked, kind=Op.CHARGE, state=State.AMBIGUOUS).first()
        if ambiguous is not None and charge.succeeded:
            # The charge we did not know the outcome of is in Clover: settled without a resend.
            effect_settle(
                model=PaymentOperation,
                effect_id=ambiguous.pk,
                to=State.SUCCEEDED,
                note="found in Clover by its webhook",
                expect=(State.AMBIGUOUS,),
                after=_after_charge(charge),
                clover_object_id=charge.charge_id,
                card_token="",
                reconciled=True,
                must_reconcile=False,
            )
            locked.refresh_from_db()
            changed = True
        if locked.clover_charge_id != charge.charge_id:
            return changed
        status = locked.status
        if charge.voided:
            status = Payment.Status.VOIDED
        elif charge.succeeded and charge.amount_refunded >= charge.amount:
            status = Payment.Status.REFUNDED
        elif charge.succeeded:
            status = Payment.Status.SUCCEEDED
        if (status, charge.amount_refunded) != (locked.status, locked.amount_refunded_cents):
            locked.status, locked.amount_refunded_cents = status, charge.amount_refunded
            changed = True
        locked.polled_at = timezone.now()
        locked.save(update_fields=["status", "amount_refunded_cents", "polled_at", "updated_at"])
        if changed:
            _reconcile_later(locked)
    return changed


def payment_poll(*, payment: Payment, clover: CloverClient) -> bool:
    """Read the payment's charge back from Clover (the truth, whatever the webhooks said)."""
    if not payment.clover_charge_id:
        return False
    with context.call_scope(
        object_id=str(payment.public_id), patient_ref=payment.patient_id, department_ref=payment.department_id
    ):
        charge = clover.get_charge(payment.clover_charge_id)
    return payment_apply_charge(payment=payment, charge=charge)


def clover_hints_process(*, clover: CloverClient, batch: int = 100) -> int:
    """Read back every payment a webhook hinted at; unknown ones are looked up by the hub id in their metadata."""
    done = 0
    for hint in CloverWebhookHint.objects.filter(processed_at__isnull=True).order_by("pk")[:batch]:
        try:
            with context.call_scope(object_id=hint.object_id):
                charge = clover.get_charge(hint.object_id)
        except CloverNotFoundError:
            charge = None
        except CloverTransientError:
            continue  # the next run (or the poller) tries again
        payment = _find_payment(charge) if charge is not None else None
        if charge is not None and payment is not None:
            payment_apply_charge(payment=payment, charge=charge)
        CloverWebhookHint.objects.filter(pk=hint.pk).update(processed_at=timezone.now(), payment=payment)
        done += 1
    return done


def payments_poll_recent(*, clover: CloverClient, days: int = 30, limit: int = 500) -> int:
    """Safety net for lost webhooks: read back recent paid payments; returns how many changed."""
    since = timezone.now() - dt.timedelta(days=days)
    changed = 0
    recent = Payment.objects.filter(
        paid_at__gte=since, status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED]
    ).order_by("polled_at", "pk")[:limit]
    for payment in recent:
        try:
            changed += int(payment_poll(payment=payment, clover=clover))
        except CloverTransientError:
            break
        except CloverPermanentError:
            logger.warning("payment %s: Clover refused the read-back", payment.pk)
    return changed
