"""The hub's clearinghouse client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row (system "clearinghouse") tagged with the eligibility check,
attempt, patient and location of the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub import context
from hub.audit import audit_record, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.clearinghouse.client import ClearinghouseClient, ClearinghouseConfig
from hub.models import AuditEvent

OUTCOMES = {
    "success": AuditEvent.Outcome.SUCCESS,
    "permanent": AuditEvent.Outcome.MINOR_FAILURE,
    "transient": AuditEvent.Outcome.SERIOUS_FAILURE,
}


@journaled(AuditEvent.System.CLEARINGHOUSE)
def clearinghouse_audit(record: CallRecord) -> None:
    """Write one audit row for one clearinghouse HTTP attempt."""
    scope = context.get_call_scope()
    audit_record(
        system=AuditEvent.System.CLEARINGHOUSE,
        direction=AuditEvent.Direction.OUTBOUND,
        action="call",
        method=record.method,
        route=record.route,
        status_code=record.status_code,
        outcome=OUTCOMES.get(record.outcome, AuditEvent.Outcome.SERIOUS_FAILURE),
        outcome_detail=record.outcome if not record.error else f"{record.outcome}: {record.error}",
        latency_ms=record.latency_ms,
        upstream_request_id=record.request_id,
        object_type="eligibility_check",
        object_id=scope.get("object_id"),  # type: ignore[arg-type]
        attempt=scope.get("attempt"),  # type: ignore[arg-type]
        patient_ref=scope.get("patient_ref"),  # type: ignore[arg-type]
        department_ref=scope.get("department_ref"),  # type: ignore[arg-type]
    )


def clearinghouse_config() -> ClearinghouseConfig:
    return ClearinghouseConfig(
        base_url=settings.CLEARINGHOUSE_BASE_URL,
        connect_timeout=settings.CLEARINGHOUSE_CONNECT_TIMEOUT,
        read_timeout=settings.CLEARINGHOUSE_READ_TIMEOUT,
    )


@lru_cache(maxsize=2)
def _process_client(config: ClearinghouseConfig) -> ClearinghouseClient:
    return ClearinghouseClient(config, audit_sink=clearinghouse_audit)


def clearinghouse_client() -> ClearinghouseClient:
    """The process-wide client for the configured clearinghouse (one session, connection reuse)."""
    return _process_client(clearinghouse_config())
