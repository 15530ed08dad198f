"""The write-intent ledger's state machine for outbound effects that are not athena writes (SMS, payments).

An SMS or a card charge is a foreign state mutation like an athena write, so it follows the same
rules: one row per effect, created in the business transaction and unique on a natural key;
claimed with a lease; the outside call made outside any transaction; the outcome settled on the
row; after an unknown outcome the effect is reconciled (looked for) before it is ever resent;
attempts counted on the row; a row that keeps failing is parked for staff. They do not share
`WriteIntent`'s table because that queue orders a patient's athena writes: a reminder waiting two
days, or a parked card payment, must not hold back that patient's demographics.

Apps subclass `OutboundEffect` (and `OutboundEffectEvent` for the history, related name `events`)
and drive them with the services below.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class EffectState(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    AMBIGUOUS = "ambiguous", "Outcome unknown (will reconcile)"
    RECONCILING = "reconciling", "Reconciling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (not needed any more)"
    PARKED = "parked", "Parked (needs staff)"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = ("pending", "in_flight", "ambiguous", "reconciling", "parked")
FINAL_STATES = ("succeeded", "failed", "skipped", "cancelled")
# The allowed moves; `effect_transition` enforces them (the athena ledger's table plus "skipped").
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("pending", "in_flight", "reconciling", "cancelled", "skipped", "parked", "failed"),
    "in_flight": ("succeeded", "failed", "pending", "ambiguous", "parked", "reconciling", "skipped"),
    # A status callback or webhook naming the effect settles an unknown outcome without a lookup.
    "ambiguous": ("reconciling", "succeeded", "parked", "cancelled"),
    "reconciling": ("succeeded", "pending", "in_flight", "failed", "parked", "ambiguous", "skipped"),
    "parked": ("pending", "cancelled", "failed"),
    "succeeded": (),
    "failed": ("pending",),
    "skipped": (),
    "cancelled": (),
}


class IllegalTransition(Exception):
    pass


class OutboundEffectQuerySet(models.QuerySet):
    def due(self, *, now: dt.datetime) -> OutboundEffectQuerySet:
        """Rows a worker may claim now: waiting ones whose time came, in-flight ones whose lease ran out."""
        waiting = models.Q(state__in=[EffectState.PENDING, EffectState.AMBIGUOUS], next_attempt_at__lte=now)
        abandoned = models.Q(state__in=[EffectState.IN_FLIGHT, EffectState.RECONCILING], lease_until__lt=now)
        return self.filter(waiting | abandoned).order_by("next_attempt_at", "pk")

    def needing_staff(self) -> OutboundEffectQuerySet:
        return self.filter(state__in=[EffectState.PARKED, EffectState.FAILED])


class OutboundEffect(models.Model):
    """One effect in the outside world, from its creation to a final state (abstract)."""

    State = EffectState

    natural_key = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=12, choices=EffectState.choices, default=EffectState.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=300, blank=True, help_text="Safe summary: statuses and codes")
    last_error_kind = models.CharField(max_length=16, blank=True)
    must_reconcile = models.BooleanField(
        default=False, help_text="An earlier attempt may have reached the outside system: look before sending"
    )
    reconciled = models.BooleanField(default=False, help_text="Outcome was settled by looking it up")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class OutboundEffectEvent(models.Model):
    """The history of an effect: every state change with its reason (no PHI) (abstract)."""

    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=12)
    to_state = models.CharField(max_length=12)
    attempt = models.PositiveSmallIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


Effect = TypeVar("Effect", bound=OutboundEffect)


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (the ledger's base, 10 min cap), never sooner than Retry-After."""
    base = float(getattr(settings, "HUB_INTENT_BACKOFF_SECONDS", 2.0))
    delay = random.uniform(0, min(600.0, base * (2 ** max(0, attempts - 1))))  # noqa: S311 - jitter
    return max(delay, retry_after or 0.0, base / 4)


def effect_transition(
    *, effect: OutboundEffect, to: str, note: str = "", actor: str = "", update_fields: tuple[str, ...] = ()
) -> OutboundEffect:
    """Move an effect (row locked by the caller) to `to` and record why."""
    if to != effect.state and to not in TRANSITIONS[effect.state]:
        raise IllegalTransition(f"{effect._meta.model_name} {effect.pk}: {effect.state} → {to} is not allowed")
    from_state = effect.state
    effect.state = to
    if to in FINAL_STATES:
        effect.finished_at = timezone.now()
    effect.save(update_fields=["state", "finished_at", "updated_at", *update_fields])
    effect.events.create(  # type: ignore[attr-defined]
        from_state=from_state, to_state=to, attempt=effect.attempts, note=note[:300], actor=actor[:150]
    )
    return effect


def effect_claim(
    *, model: type[Effect], effect_id: int, worker: str, lease_seconds: float, now: dt.datetime | None = None
) -> Effect | None:
    """Take the lease on a due row (None when another worker has it or it is not due).

    A row that may already have reached the outside system (ambiguous, abandoned mid-flight, or
    marked `must_reconcile`) comes back as RECONCILING: the caller looks before sending.
    """
    now = now or timezone.now()
    with transaction.atomic():
        rows = model._default_manager
        effect = rows.select_for_update(skip_locked=True).filter(pk=effect_id).first()
        if effect is None or not cast(OutboundEffectQuerySet, rows.filter(pk=effect_id)).due(now=now).exists():
            return None
        needs_reconcile = effect.state != EffectState.PENDING or effect.must_reconcile
        effect.attempts += 1
        effect.lease_until = now + dt.timedelta(seconds=lease_seconds)
        effect.leased_by = worker[:64]
        effect.must_reconcile = needs_reconcile
        fields = ("attempts", "lease_until", "leased_by", "must_reconcile")
        if effect.attempts > effect.max_attempts:
            # An effect that keeps failing (or keeps killing its worker) stops here, for staff to see.
            effect.last_error = f"gave up after {effect.max_attempts} attempts; {effect.last_error}"[:300]
            effect.lease_until = None
            effect_transition(
                effect=effect, to=EffectState.PARKED, note="attempts exhausted", update_fields=(*fields, "last_error")
            )
            return None
        if needs_reconcile:
            abandoned = effect.state in (EffectState.IN_FLIGHT, EffectState.RECONCILING)
            note = "lease expired" if abandoned else "reconcile before retry"
            effect_transition(effect=effect, to=EffectState.RECONCILING, note=note, update_fields=fields)
        else:
            effect_transition(effect=effect, to=EffectState.IN_FLIGHT, note="claimed", update_fields=fields)
        return effect


def effect_settle(
    *,
    model: type[Effect],
    effect_id: int,
    to: str,
    note: str = "",
    after: Callable[[Effect], None] | None = None,
    expect: tuple[str, ...] = (),
    **values: Any,
) -> Effect:
    """Record an outcome on the (re-locked) row; `after(effect)` runs in the same transaction.

    With `expect`, nothing changes unless the row is still in one of those states (a worker's
    outcome loses to a status callback that settled the row while the call was out).
    """
    with transaction.atomic():
        effect = model._default_manager.select_for_update().get(pk=effect_id)
        if expect and effect.state not in expect:
            return effect
        for name, value in values.items():
            setattr(effect, name, value)
        fields = tuple(values)
        if to != EffectState.IN_FLIGHT and to != EffectState.RECONCILING:
            effect.lease_until = None
            fields = (*fields, "lease_until")
        effect_transition(effect=effect, to=to, note=note, update_fields=fields)
        if after is not None:
            after(effect)
        return effect


def effect_error_values(exc: Exception, kind: str) -> dict[str, Any]:
    """The safe summary of a client error (clients' messages carry statuses and codes, never values)."""
    return {"last_error": str(exc)[:300], "last_error_kind": kind}


def effect_retry(*, model: type[Effect], effect: OutboundEffect, actor: str, reason: str) -> Effect:
    """Staff send a parked (or failed) effect back to the queue; it looks before it resends."""
    with transaction.atomic():
        locked = model._default_manager.select_for_update().get(pk=effect.pk)
        if locked.state not in (EffectState.PARKED, EffectState.FAILED):
            raise IllegalTransition(f"{locked.pk} is {locked.state}; only parked or failed work can be retried")
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.must_reconcile = True
        effect_transition(
            effect=locked,
            to=EffectState.PENDING,
            note=f"retried by staff: {reason}",
            actor=actor,
            update_fields=("attempts", "next_attempt_at", "must_reconcile"),
        )
        return locked
