"""Staff decisions on sync work: assigning and settling conflicts, replaying writes, re-processing events.

Views hand these services only rows the user may see (querysets filtered with `for_user`); the
services check the rest (states, who may take a conflict), change the rows in one transaction
and write one audit row of ids and codes. Reasons staff type stay on the rows they explain (the
conflict, the intent's history), never in the audit trail: free text may quote a patient.

Who may replay (`may_replay`): the permission `sync.replay_writeintent`, and

- a *parked* intent: integration admins anywhere, front desk at their own locations. Parked work
  waits for a person (a chart athena matched elsewhere, attempts exhausted) and the desk is often
  the one who fixed the cause;
- a *failed* intent: integration admins only. athena refused the write; sending it again is a
  judgement about athena's answer, not about the patient.

How a replay works (`intent_replay`):

- parked: retried in place (`sync.services.intent_retry`): the same row goes back to pending and
  reads athena back before it writes. It stays the patient's oldest open write, so their later
  writes keep waiting behind it, in order.
- failed: the failed row is final and keeps its record; the replay is a new intent with
  `replay_of` pointing at it, the same operation and target, set to read athena back before its
  first write (the failed attempt may have reached athena). One open replay per original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from hub import context
from hub.audit import audit_record
from hub.golden import split_insurance_field
from hub.models import AuditEvent, Patient, PatientInsurance
from hub.queue import nudge
from hub.staff_access import is_integration_admin, is_read_only
from sync.conflicts import conflict_resolve
from sync.models import Conflict, InboundEvent, IntentEvent, WriteIntent
from sync.services import IllegalTransition, intent_create, intent_retry

State = WriteIntent.State

NAME_FIELDS = {
    "first_name",
    "middle_name",
    "last_name",
    "preferred_name",
    "guarantor_first_name",
    "guarantor_last_name",
}
PHONE_FIELDS = {"home_phone", "mobile_phone", "work_phone", "emergency_contact_phone"}
# The portal API's own rules for these fields (intake.api.serializers), kept in step by hand:
# sync must not import the portal API, and staff must not be able to decide a value the portal
# would have refused.
NAME_RE = re.compile(r"^[^\d\r\n\t*~^:|<>{}]+$")
PHONE_RE = re.compile(r"^\+?1?\d{10}$")
SSN_RE = re.compile(r"^\d{3}-?\d{2}-?\d{4}$")
ZIP_RE = re.compile(r"^\d{5}(-?\d{4})?$")
STATE_RE = re.compile(r"^[A-Z]{2}$")
LANGUAGE_RE = re.compile(r"^[a-z]{3}$")
TRUE_WORDS = {"yes", "true", "1", "y"}
FALSE_WORDS = {"no", "false", "0", "n"}


def _user_actor(user: Any) -> context.Actor:
    return context.Actor(type="user", id=str(user.pk), label=user.get_username())


def _require_reason(reason: str) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise ValueError("a reason is required")
    return cleaned[:300]


# --- conflicts ------------------------------------------------------------------------------------


def conflict_value_clean(*, field_name: str, raw: str) -> Any:
    """Staff's typed value as the golden record stores it (dates as ISO text), or ValidationError."""
    insurance = split_insurance_field(field_name)
    if insurance is not None:
        # An insurance field: ids are stored as the card prints them, without spaces, upper-case.
        field_name = insurance[1]
        if field_name in ("member_id", "group_number"):
            text = re.sub(r"[\s-]", "", raw or "").upper()
            if not re.fullmatch(r"[A-Z0-9]{1,40}", text):
                raise ValidationError("Use letters and digits only.")
            return text
    model_field = (PatientInsurance if insurance else Patient)._meta.get_field(field_name)
    text = (raw or "").strip()
    kind = model_field.get_internal_type()
    if kind == "BooleanField":
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValidationError("Enter yes or no.")
    if field_name in PHONE_FIELDS and text:
        digits = re.sub(r"\D", "", text)
        if not PHONE_RE.match(digits):
            raise ValidationError("Enter a 10-digit US phone number.")
        text = digits[-10:]
    if field_name in ("sex", "state"):
        text = text.upper()
    value = model_field.clean(text, None)  # type: ignore[union-attr]
    if kind == "DateField":
        if value is None:
            raise ValidationError("Enter a date as YYYY-MM-DD.")
        if value > timezone.localdate() or value.year < 1900:
            raise ValidationError("Enter a date between 1900 and today.")
        return value.isoformat()
    value = "" if value is None else str(value)
    if field_name in NAME_FIELDS and value and not NAME_RE.match(value):
        raise ValidationError("Use letters, spaces, apostrophes, periods or hyphens only.")
    checks = {"ssn": SSN_RE, "zip_code": ZIP_RE, "state": STATE_RE, "preferred_language": LANGUAGE_RE}
    if field_name in checks and value and not checks[field_name].match(value):
        raise ValidationError("This value is not in the expected format.")
    return value


def conflict_assignees(*, conflict: Conflict) -> models.QuerySet[Any]:
    """Staff who may take this conflict: active, allowed to resolve, and working at its location."""
    User = get_user_model()
    permission = Permission.objects.filter(content_type__app_label="sync", codename="resolve_conflict").first()
    may_resolve = Q(is_superuser=True)
    if permission is not None:
        may_resolve |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    at_location = (
        Q(is_superuser=True)
        | Q(staff_profile__all_locations=True)
        | Q(staff_profile__departments=conflict.department_id)
    )
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(may_resolve)
        .filter(at_location)
        .distinct()
        .order_by("username")
    )


@transaction.atomic
def conflict_assign(*, conflict: Conflict, assignee: Any | None, actor: Any) -> Conflict:
    """Give an open conflict to a colleague at its location (or to nobody); audited."""
    locked = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if locked.status != Conflict.Status.OPEN:
        raise ValueError("this conflict is already settled")
    if assignee is not None and not conflict_assignees(conflict=locked).filter(pk=assignee.pk).exists():
        raise ValueError("that colleague cannot resolve conflicts at this location")
    locked.assignee = assignee
    locked.save(update_fields=["assignee"])
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="conflict-assigned",
        actor=_user_actor(actor),
        patient_ref=locked.patient_id,
        department_ref=locked.department_id,
        object_type="conflict",
        object_id=locked.pk,
        detail={"field": locked.field, "assignee": assignee.pk if assignee is not None else None},
    )
    return locked


def identical_key(conflict: Conflict) -> tuple[str, str, str]:
    """What makes conflicts 'the same': one field, the same portal value and the same EHR value."""
    return (conflict.field, conflict.portal_value, conflict.ehr_value)


def identical_open_conflicts(*, conflict: Conflict, among: models.QuerySet[Conflict]) -> list[Conflict]:
    """Other open conflicts in `among` identical to this one (values are encrypted: compared here, not in SQL)."""
    key = identical_key(conflict)
    candidates = (
        among.filter(status=Conflict.Status.OPEN, field=conflict.field)
        .exclude(pk=conflict.pk)
        .select_related("department")
    )
    return [other for other in candidates.order_by("opened_at") if identical_key(other) == key]


@dataclass
class BulkOutcome:
    resolved: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def conflicts_resolve_identical(
    *, conflicts: list[Conflict], choice: str, value: Any = None, reason: str, actor: Any
) -> BulkOutcome:
    """Settle identical conflicts the same way; each goes through `conflict_resolve` (both ways, audited)."""
    reason = _require_reason(reason)
    if not conflicts:
        raise ValueError("choose at least one conflict")
    keys = {identical_key(conflict) for conflict in conflicts}
    if len(keys) != 1:
        raise ValueError("these conflicts are not identical (same field, same portal and EHR values)")
    outcome = BulkOutcome()
    for conflict in conflicts:
        # One transaction each: a conflict that settled meanwhile does not hold back the others.
        try:
            conflict_resolve(conflict=conflict, choice=choice, value=value, reason=reason, actor=actor)
        except ValueError as exc:
            outcome.skipped.append((conflict.pk, str(exc)))
        else:
            outcome.resolved.append(conflict.pk)
    return outcome


# --- write intents --------------------------------------------------------------------------------


def may_replay(user: Any, intent: WriteIntent) -> bool:
    """Whether this user may replay this intent (the intent is already known to be at their locations)."""
    if user is None or not user.is_authenticated or is_read_only(user):
        return False
    if not user.has_perm("sync.replay_writeintent"):
        return False
    if intent.state == State.PARKED:
        return True
    return intent.state == State.FAILED and is_integration_admin(user)


def _live_replay() -> Exists:
    return Exists(
        WriteIntent.objects.filter(replay_of=OuterRef("pk")).exclude(state__in=[State.FAILED, State.CANCELLED])
    )


def needs_staff(queryset: QuerySet[WriteIntent]) -> QuerySet[WriteIntent]:
    """Parked intents, and failed ones nobody has replayed yet."""
    return queryset.filter(Q(state=State.PARKED) | (Q(state=State.FAILED) & ~_live_replay()))


def open_replay(intent: WriteIntent) -> WriteIntent | None:
    """A replay of this intent that is still running or already succeeded (one is enough)."""
    return (
        intent.replays.exclude(state__in=[State.FAILED, State.CANCELLED]).order_by("pk").first()  # type: ignore[attr-defined]
    )


@transaction.atomic
def intent_replay(*, intent: WriteIntent, actor: Any, reason: str) -> WriteIntent:
    """Replay a parked intent in place, or a failed one as a new intent linked by `replay_of`; audited."""
    reason = _require_reason(reason)
    locked = WriteIntent.objects.select_for_update().get(pk=intent.pk)
    label = actor.get_username()
    if locked.state == State.PARKED:
        replayed = intent_retry(intent=locked, actor=label, reason=reason)
        mode = "in-place"
    elif locked.state == State.FAILED:
        existing = open_replay(locked)
        if existing is not None:
            raise ValueError(f"intent {locked.pk} was already replayed as intent {existing.pk}")
        number = locked.replays.count() + 1  # type: ignore[attr-defined]
        replayed, _ = intent_create(
            operation=locked.operation,
            patient=locked.patient,
            department=locked.department,
            natural_key=f"replay:{locked.pk}:{number}",
            target=dict(locked.target),
        )
        # The failed attempt may have reached athena: the replay's first attempt reads it back.
        replayed.replay_of = locked
        replayed.must_reconcile = True
        replayed.save(update_fields=["replay_of", "must_reconcile", "updated_at"])
        IntentEvent.objects.create(
            intent=replayed,
            from_state=replayed.state,
            to_state=replayed.state,
            note=f"replay of intent {locked.pk}: {reason}"[:300],
            actor=label[:150],
        )
        IntentEvent.objects.create(
            intent=locked,
            from_state=locked.state,
            to_state=locked.state,
            attempt=locked.attempts,
            note=f"replayed as intent {replayed.pk}: {reason}"[:300],
            actor=label[:150],
        )
        mode = "linked"
    else:
        raise IllegalTransition(f"intent {locked.pk} is {locked.state}; only parked or failed work can be replayed")
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="intent-replay",
        actor=_user_actor(actor),
        patient_ref=locked.patient_id,
        department_ref=locked.department_id,
        object_type="write_intent",
        object_id=locked.pk,
        intent_id=replayed.pk,
        detail={"mode": mode, "operation": locked.operation, "replay": replayed.pk},
    )
    return replayed


# --- inbound events -------------------------------------------------------------------------------


@transaction.atomic
def inbound_event_requeue(*, event: InboundEvent, actor: Any) -> InboundEvent:
    """Send a parked athena event back to be fetched from athena and merged again; audited."""
    locked = InboundEvent.objects.select_for_update().get(pk=event.pk)
    if locked.state != InboundEvent.State.PARKED:
        raise ValueError("only parked events can be processed again")
    locked.state = InboundEvent.State.RECEIVED
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.lease_until = None
    locked.processed_at = None
    locked.save(update_fields=["state", "attempts", "next_attempt_at", "lease_until", "processed_at"])
    nudge("sync.tasks.process_inbound_events")
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="inbound-requeue",
        actor=_user_actor(actor),
        patient_ref=locked.patient_id,
        department_ref=locked.department_id,
        object_type="inbound_event",
        object_id=locked.pk,
        detail={"source": locked.source, "resource_type": locked.resource_type},
    )
    return locked
