"""The audit trail: one hash-chained row per outside call and per staff view of PHI.

`audit_record` appends a row; `hub.audit_chain.chain_verify` walks the chain and names the first
broken row.
Rows carry ids, route templates and outcomes, never PHI values. External calls are recorded
outside any business transaction (the call happened even if the caller's work rolls back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import context
from hub.models import AuditChainHead, AuditEvent, CallInFlight

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "sequence",
    "recorded_at",
    "system",
    "direction",
    "action",
    "actor_type",
    "actor_id",
    "actor_label",
    "method",
    "route",
    "status_code",
    "outcome",
    "outcome_detail",
    "latency_ms",
    "department_id_ref",
    "patient_ref",
    "object_type",
    "object_id",
    "correlation_id",
    "intent_id",
    "attempt",
    "upstream_request_id",
    "remote_addr",
    "detail",
)


def mask_value(value: Any) -> str:
    """django-auditlog mask: hide the whole value (its default masks only the first half)."""
    return "[redacted]"


def _canonical(values: dict[str, Any]) -> bytes:
    def norm(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return value

    payload = {name: norm(values[name]) for name in HASHED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(values)).hexdigest()


def _trim(value: str, length: int) -> str:
    return value[:length] if value else ""


@transaction.atomic
def audit_record(
    *,
    system: str,
    action: str,
    direction: str = AuditEvent.Direction.OUTBOUND,
    method: str = "",
    route: str = "",
    status_code: int | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    outcome_detail: str = "",
    latency_ms: int | None = None,
    department_ref: str | int | None = None,
    patient_ref: str | int | None = None,
    object_type: str = "",
    object_id: str | int | None = None,
    intent_id: str | int | None = None,
    attempt: int | None = None,
    upstream_request_id: str = "",
    detail: dict[str, Any] | None = None,
    actor: context.Actor | None = None,
    correlation_id: str | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    """Append one row to the audit chain (the chain head row lock serialises writers)."""
    who = actor or context.get_actor()
    values: dict[str, Any] = {
        "recorded_at": timezone.now(),
        "system": system,
        "direction": direction,
        "action": _trim(action, 64),
        "actor_type": who.type,
        "actor_id": _trim(who.id, 64),
        "actor_label": _trim(who.label, 150),
        "method": method.upper()[:8],
        "route": _trim(route, 200),
        "status_code": status_code,
        "outcome": str(outcome),
        "outcome_detail": _trim(outcome_detail, 200),
        "latency_ms": latency_ms,
        "department_id_ref": "" if department_ref is None else str(department_ref),
        "patient_ref": "" if patient_ref is None else str(patient_ref),
        "object_type": object_type,
        "object_id": "" if object_id is None else _trim(str(object_id), 64),
        "correlation_id": (correlation_id if correlation_id is not None else context.get_correlation_id())[:64],
        "intent_id": "" if intent_id is None else str(intent_id),
        "attempt": attempt,
        "upstream_request_id": _trim(upstream_request_id, 100),
        "remote_addr": (remote_addr if remote_addr is not None else context.get_remote_addr())[:45],
        "detail": detail or {},
    }
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    values["sequence"] = head.last_sequence + 1
    digest = row_hash(head.last_hash, values)
    event = AuditEvent.objects.create(prev_hash=head.last_hash, row_hash=digest, **values)
    head.last_sequence = values["sequence"]
    head.last_hash = digest
    head.save(update_fields=["last_sequence", "last_hash"])
    return event


def outcome_for_status(status_code: int | None, *, failed: bool = False) -> str:
    """Map an HTTP status (or a failure with none) to an ATNA outcome code."""
    if status_code is None:
        return AuditEvent.Outcome.SERIOUS_FAILURE if failed else AuditEvent.Outcome.SUCCESS
    if status_code < 400:
        return AuditEvent.Outcome.SUCCESS
    if status_code < 500:
        return AuditEvent.Outcome.MINOR_FAILURE
    return AuditEvent.Outcome.SERIOUS_FAILURE


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    rows_checked: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


# How an outbound HTTP attempt's outcome (see `hub.integrations.calls.CallRecord`) is audited.
CALL_OUTCOMES = {
    "success": AuditEvent.Outcome.SUCCESS,
    "permanent": AuditEvent.Outcome.MINOR_FAILURE,
    "transient": AuditEvent.Outcome.SERIOUS_FAILURE,
    "ambiguous": AuditEvent.Outcome.SERIOUS_FAILURE,
}


def call_audit(record: Any, *, system: str, object_type: str, upstream_key: str = "") -> AuditEvent:
    """One audit row for one outbound HTTP attempt to a partner (Twilio, Clover, the clearinghouse).

    The row is tagged with the object, attempt, patient and location of the current call scope
    (`hub.context.call_scope`); `upstream_key` names the partner's own id of what the call made.
    """
    scope = context.get_call_scope()
    return audit_record(
        system=system,
        direction=AuditEvent.Direction.OUTBOUND,
        action="call",
        method=record.method,
        route=record.route,
        status_code=record.status_code,
        outcome=CALL_OUTCOMES.get(record.outcome, AuditEvent.Outcome.SERIOUS_FAILURE),
        outcome_detail=record.outcome if not record.error else f"{record.outcome}: {record.error}",
        latency_ms=record.latency_ms,
        upstream_request_id=record.request_id,
        object_type=object_type,
        object_id=scope.get("object_id"),  # type: ignore[arg-type]
        attempt=scope.get("attempt"),  # type: ignore[arg-type]
        patient_ref=scope.get("patient_ref"),  # type: ignore[arg-type]
        department_ref=scope.get("department_ref"),  # type: ignore[arg-type]
        detail={upstream_key: record.object_id} if upstream_key and record.object_id else None,
    )


# --- calls cut short ----------------------------------------------------------------------------
#
# An outside client audits a call after its answer. A process killed in between (SIGKILL, the OOM
# killer) would leave a call that reached the other system with no audit row. So a journaling sink
# first records the call as in flight (committed before the request is sent), and deletes that
# row in the transaction that appends the audit row; the sweeper audits rows left behind.

_in_flight = threading.local()
RecordT = TypeVar("RecordT")


def _stack() -> list[tuple[str, str, str, int]]:
    if not hasattr(_in_flight, "calls"):
        _in_flight.calls = []
    return _in_flight.calls  # type: ignore[no-any-return]


def call_started(system: str, method: str, route: str, object_type: str = "") -> None:
    """Note a call about to be sent (its own committed row: nothing rolls it back)."""
    who = context.get_actor()
    scope = context.get_call_scope()
    refs = {
        "actor": [who.type, who.id[:64], who.label[:150]],
        "correlation_id": context.get_correlation_id()[:64],
        "remote_addr": context.get_remote_addr()[:45],
        "object_type": object_type,
        **{
            key: str(scope[key])
            for key in ("intent_id", "attempt", "patient_ref", "department_ref", "object_id")
            if scope.get(key) is not None
        },
    }
    row = CallInFlight.objects.create(
        system=system, method=method.upper()[:8], route=route[:200], started_at=timezone.now(), refs=refs
    )
    _stack().append((system, method.upper()[:8], route[:200], row.pk))


def call_finished(system: str, method: str, route: str) -> None:
    """The call's audit row is being written: its in-flight row goes in the same transaction."""
    stack = _stack()
    wanted = (system, method.upper()[:8], route[:200])
    for index in range(len(stack) - 1, -1, -1):
        if stack[index][:3] == wanted:
            CallInFlight.objects.filter(pk=stack.pop(index)[3]).delete()
            return


def journaled(system: str) -> Callable[[Callable[[RecordT], None]], Callable[[RecordT], None]]:
    """Make an audit sink journal its calls: `sink.started(method, route)` before each is sent."""

    def wrap(sink: Callable[[RecordT], None]) -> Callable[[RecordT], None]:
        def write(record: RecordT) -> None:
            with transaction.atomic():
                sink(record)
                call_finished(system, str(getattr(record, "method", "POST")), str(getattr(record, "route", "")))

        def started(method: str, route: str) -> None:
            call_started(system, method, route)

        write.started = started  # type: ignore[attr-defined]
        write.__doc__ = sink.__doc__
        return write

    return wrap


def recover_interrupted_calls(older_than_seconds: float | None = None) -> int:
    """Audit each call whose process ended before it wrote the call's audit row; returns how many."""
    seconds = settings.HUB_INTERRUPTED_CALL_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=seconds)
    recovered = 0
    for pk in CallInFlight.objects.filter(started_at__lte=cutoff).order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            row = CallInFlight.objects.select_for_update().filter(pk=pk).first()
            if row is None:
                continue  # its process finished it after all, or another sweeper took it
            refs = dict(row.refs)
            actor = refs.pop("actor", None)
            audit_record(
                system=row.system,
                direction=AuditEvent.Direction.OUTBOUND,
                action="call",
                method=row.method,
                route=row.route,
                status_code=None,
                outcome=AuditEvent.Outcome.SERIOUS_FAILURE,
                outcome_detail="interrupted: the calling process ended before the answer",
                actor=context.Actor(*actor) if actor else None,
                correlation_id=refs.get("correlation_id", ""),
                remote_addr=refs.get("remote_addr", ""),
                object_type=refs.get("object_type", ""),
                object_id=refs.get("object_id"),
                intent_id=refs.get("intent_id"),
                attempt=int(refs["attempt"]) if refs.get("attempt") else None,
                patient_ref=refs.get("patient_ref"),
                department_ref=refs.get("department_ref"),
                detail={"started_at": row.started_at.isoformat()},
            )
            row.delete()
            recovered += 1
    return recovered
