"""Services of the write-intent ledger: creating, claiming, running and settling athena writes.

Every state change goes through `intent_transition`, which checks the move against
`WriteIntent.TRANSITIONS` and writes the intent's history. Athena is never called inside a
database transaction: claim (commit) → call → record the outcome (commit).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import context
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import (
    AthenaAmbiguousError,
    AthenaError,
    AthenaPermanentError,
    AthenaTransientError,
)
from hub.models import Department, Patient
from hub.queue import nudge
from sync.models import IntentEvent, WriteIntent

logger = logging.getLogger(__name__)

State = WriteIntent.State


class IllegalTransition(Exception):
    pass


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> float:
    return float(settings.HUB_INTENT_LEASE_SECONDS)


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (2 s base, 10 min cap), never sooner than Retry-After."""
    base = float(settings.HUB_INTENT_BACKOFF_SECONDS)
    cap = 600.0
    delay = random.uniform(0, min(cap, base * (2 ** max(0, attempts - 1))))  # noqa: S311 - jitter
    return max(delay, retry_after or 0.0, base / 4)


def ambiguous_settle_seconds() -> float:
    """How long to wait before reading athena back after an unknown outcome.

    A request that timed out on our side may still be running on athena's; reading back too early
    finds nothing and would resend. Twice the read timeout lets any such request land first.
    """
    return float(settings.HUB_AMBIGUOUS_SETTLE_SECONDS)


def intent_transition(
    *,
    intent: WriteIntent,
    to: str,
    note: str = "",
    actor: str = "",
    update_fields: tuple[str, ...] = (),
) -> WriteIntent:
    """Move an intent to `to` (row already locked by the caller) and record why."""
    if to != intent.state and to not in WriteIntent.TRANSITIONS[intent.state]:
        raise IllegalTransition(f"intent {intent.pk}: {intent.state} → {to} is not allowed")
    from_state = intent.state
    intent.state = to
    if to in WriteIntent.FINAL_STATES:
        intent.finished_at = timezone.now()
    intent.save(update_fields=["state", "finished_at", "updated_at", *update_fields])
    IntentEvent.objects.create(
        intent=intent, from_state=from_state, to_state=to, attempt=intent.attempts, note=note[:300], actor=actor[:150]
    )
    return intent


@transaction.atomic
def intent_create(
    *,
    operation: str,
    patient: Patient,
    department: Department,
    natural_key: str,
    target: dict[str, Any] | None = None,
    depends_on: WriteIntent | None = None,
) -> tuple[WriteIntent, bool]:
    """Create the intent for one athena write, or return the one that already has this natural key."""
    intent, created = WriteIntent.objects.get_or_create(
        natural_key=natural_key[:200],
        defaults={
            "practice_id": department.practice_id,
            "department": department,
            "patient": patient,
            "operation": operation,
            "target": target or {},
            "depends_on": depends_on,
            "next_attempt_at": timezone.now(),
        },
    )
    if created:
        IntentEvent.objects.create(intent=intent, from_state="", to_state=intent.state, note="created")
        nudge("sync.tasks.run_intents")
    return intent, created


def _is_due(intent: WriteIntent, now: dt.datetime) -> bool:
    return WriteIntent.objects.due(now=now).filter(pk=intent.pk).exists()


@transaction.atomic
def intent_claim(*, intent_id: int, worker: str) -> WriteIntent | None:
    """Take the lease on a due intent; None when another worker has it or it is not due."""
    now = timezone.now()
    intent = WriteIntent.objects.select_for_update(skip_locked=True).filter(pk=intent_id).first()
    if intent is None or not _is_due(intent, now):
        return None
    # An abandoned or ambiguous intent may already be in athena: read back before any resend.
    needs_reconcile = intent.state != State.PENDING or intent.must_reconcile
    intent.attempts += 1
    intent.lease_until = now + dt.timedelta(seconds=lease_seconds())
    intent.leased_by = worker
    intent.must_reconcile = needs_reconcile
    fields = ("attempts", "lease_until", "leased_by", "must_reconcile")
    if intent.attempts > intent.max_attempts:
        # A write that keeps failing (or keeps killing its worker) stops here, for staff to see.
        intent.last_error = f"gave up after {intent.max_attempts} attempts; {intent.last_error}"[:300]
        intent.lease_until = None
        intent_transition(
            intent=intent, to=State.PARKED, note="attempts exhausted", update_fields=(*fields, "last_error")
        )
        return None
    if needs_reconcile:
        note = "lease expired" if intent.state in (State.IN_FLIGHT, State.RECONCILING) else "reconcile before retry"
        intent_transition(intent=intent, to=State.RECONCILING, note=note, update_fields=fields)
    else:
        intent_transition(intent=intent, to=State.IN_FLIGHT, note="claimed", update_fields=fields)
    return intent


def _settle(intent_id: int, to: str, *, note: str = "", **values: Any) -> WriteIntent:
    """Record an outcome on the (re-locked) intent row."""
    with transaction.atomic():
        intent = WriteIntent.objects.select_for_update().get(pk=intent_id)
        for name, value in values.items():
            setattr(intent, name, value)
        fields = tuple(values)
        if to in (State.SUCCEEDED, State.FAILED, State.PARKED, State.PENDING, State.AMBIGUOUS):
            intent.lease_until = None
            fields = (*fields, "lease_until")
        intent_transition(intent=intent, to=to, note=note, update_fields=fields)
        if to == State.SUCCEEDED:
            from sync import ledger

            ledger.apply_success(intent)
        if to in WriteIntent.FINAL_STATES or to == State.PARKED:
            from sync import ledger

            ledger.after_final(intent)
        return intent


def _error_values(exc: AthenaError, kind: str) -> dict[str, Any]:
    return {
        "last_error": str(exc)[:300],
        "last_error_kind": kind,
        "athena_message": getattr(exc, "athena_message", "")[:2000],
    }


def intent_execute(*, intent_id: int, client: AthenaClient, worker: str | None = None) -> bool:
    """Claim one intent and carry it as far as it goes now; False if it was not claimable."""
    from sync import ledger

    intent = intent_claim(intent_id=intent_id, worker=worker or worker_name())
    if intent is None:
        return False
    scope = {
        "intent_id": intent.pk,
        "attempt": intent.attempts,
        "patient_ref": intent.patient_id,
        "department_ref": intent.department_id,
    }
    with context.call_scope(**scope):
        blocker = ledger.dependency_problem(intent)
        if blocker:
            _settle(intent.pk, State.FAILED, note=blocker, last_error=blocker, last_error_kind="dependency")
            return True
        try:
            if intent.state == State.RECONCILING:
                found = ledger.reconcile(intent, client)
                if found.applied:
                    _settle(intent.pk, State.SUCCEEDED, note="found in athena", result=found.result, reconciled=True)
                    return True
                if found.conflict:
                    _settle(
                        intent.pk,
                        State.FAILED,
                        note=found.conflict,
                        last_error=found.conflict,
                        last_error_kind="conflict",
                        reconciled=True,
                    )
                    return True
                with transaction.atomic():
                    locked = WriteIntent.objects.select_for_update().get(pk=intent.pk)
                    locked.must_reconcile = False
                    intent_transition(
                        intent=locked,
                        to=State.IN_FLIGHT,
                        note="not in athena: sending",
                        update_fields=("must_reconcile",),
                    )
            result = ledger.send(intent, client)
            _settle(intent.pk, State.SUCCEEDED, note="written", result=result, last_error="", last_error_kind="")
        except AthenaAmbiguousError as exc:
            delay = max(backoff_delay(1), ambiguous_settle_seconds())
            _settle(
                intent.pk,
                State.AMBIGUOUS,
                note="outcome unknown",
                next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
                must_reconcile=True,
                **_error_values(exc, "ambiguous"),
            )
            return True
        except AthenaTransientError as exc:
            current = WriteIntent.objects.get(pk=intent.pk)
            # A failed reconcile read leaves the question open: it must be asked again.
            to = State.AMBIGUOUS if current.state == State.RECONCILING else State.PENDING
            delay = backoff_delay(intent.attempts, exc.retry_after)
            _settle(
                intent.pk,
                to,
                note="transient failure",
                next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
                **_error_values(exc, "transient"),
            )
            return True
        except AthenaPermanentError as exc:
            _settle(intent.pk, State.FAILED, note="athena refused", **_error_values(exc, "permanent"))
            return True
        except ledger.NeedsStaff as exc:
            _settle(intent.pk, State.PARKED, note=str(exc), last_error=str(exc)[:300], last_error_kind="needs_staff")
            return True
        except Exception as exc:
            # A bug or an unexpected answer: park this patient's write for staff, keep the rest going.
            logger.exception("intent %s failed unexpectedly", intent.pk)
            message = f"unexpected error: {type(exc).__name__}"
            _settle(intent.pk, State.PARKED, note=message, last_error=message, last_error_kind="bug")
            return True
    return True


def intents_run_due(*, client: AthenaClient, budget_seconds: float = 50.0, batch: int = 20) -> int:
    """Work through due intents until none are due soon or the time budget is spent."""
    worker = worker_name()
    deadline = time.monotonic() + budget_seconds
    done = 0
    while time.monotonic() < deadline:
        now = timezone.now()
        ids = list(WriteIntent.objects.due(now=now).values_list("pk", flat=True)[:batch])
        if not ids:
            upcoming = (
                WriteIntent.objects.filter(state__in=[State.PENDING, State.AMBIGUOUS], next_attempt_at__gt=now)
                .unblocked()
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
        for intent_id in ids:
            if intent_execute(intent_id=intent_id, client=client, worker=worker):
                progressed = True
                done += 1
        if not progressed:
            time.sleep(0.05)
    return done


@transaction.atomic
def intent_retry(*, intent: WriteIntent, actor: str, reason: str) -> WriteIntent:
    """Staff send a parked (or failed) intent back to the queue; it reconciles before it writes."""
    locked = WriteIntent.objects.select_for_update().get(pk=intent.pk)
    if locked.state not in (State.PARKED, State.FAILED):
        raise IllegalTransition(f"intent {locked.pk} is {locked.state}; only parked or failed work can be retried")
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    # Whatever happened before, the retry starts by reading athena back.
    locked.must_reconcile = True
    intent_transition(
        intent=locked,
        to=State.PENDING,
        note=f"retried by staff: {reason}",
        actor=actor,
        update_fields=("attempts", "next_attempt_at", "must_reconcile"),
    )
    nudge("sync.tasks.run_intents")
    return locked
