"""The hub's Clover client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row tagged with the payment, attempt, patient and location of
the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub import context
from hub.audit import audit_record, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.clover.client import CloverClient, CloverConfig
from hub.models import AuditEvent

OUTCOMES = {
    "success": AuditEvent.Outcome.SUCCESS,
    "permanent": AuditEvent.Outcome.MINOR_FAILURE,
    "transient": AuditEvent.Outcome.SERIOUS_FAILURE,
    "ambiguous": AuditEvent.Outcome.SERIOUS_FAILURE,
}


@journaled(AuditEvent.System.CLOVER)
def clover_audit(record: CallRecord) -> None:
    """Write one audit row for one Clover HTTP attempt."""
    scope = context.get_call_scope()
    audit_record(
        system=AuditEvent.System.CLOVER,
        direction=AuditEvent.Direction.OUTBOUND,
        action="call",
        method=record.method,
        route=record.route,
        status_code=record.status_code,
        outcome=OUTCOMES.get(record.outcome, AuditEvent.Outcome.SERIOUS_FAILURE),
        outcome_detail=record.outcome if not record.error else f"{record.outcome}: {record.error}",
        latency_ms=record.latency_ms,
        upstream_request_id=record.request_id,
        object_type="payment",
        object_id=scope.get("object_id"),  # type: ignore[arg-type]
        attempt=scope.get("attempt"),  # type: ignore[arg-type]
        patient_ref=scope.get("patient_ref"),  # type: ignore[arg-type]
        department_ref=scope.get("department_ref"),  # type: ignore[arg-type]
        detail={"clover_id": record.object_id} if record.object_id else None,
    )


def clover_config() -> CloverConfig:
    return CloverConfig(
        base_url=settings.CLOVER_BASE_URL,
        api_token=settings.CLOVER_API_TOKEN,
        connect_timeout=settings.CLOVER_CONNECT_TIMEOUT,
        read_timeout=settings.CLOVER_READ_TIMEOUT,
    )


@lru_cache(maxsize=2)
def _process_client(config: CloverConfig) -> CloverClient:
    return CloverClient(config, audit_sink=clover_audit)


def clover_client() -> CloverClient:
    """The process-wide client for the configured merchant (one session, connection reuse)."""
    return _process_client(clover_config())
