"""The hub's Twilio client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row tagged with the message, attempt, patient and location
of the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub import context
from hub.audit import audit_record, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.twilio.client import TwilioClient, TwilioConfig
from hub.models import AuditEvent

OUTCOMES = {
    "success": AuditEvent.Outcome.SUCCESS,
    "permanent": AuditEvent.Outcome.MINOR_FAILURE,
    "transient": AuditEvent.Outcome.SERIOUS_FAILURE,
    "ambiguous": AuditEvent.Outcome.SERIOUS_FAILURE,
}


@journaled(AuditEvent.System.TWILIO)
def twilio_audit(record: CallRecord) -> None:
    """Write one audit row for one Twilio HTTP attempt."""
    scope = context.get_call_scope()
    audit_record(
        system=AuditEvent.System.TWILIO,
        direction=AuditEvent.Direction.OUTBOUND,
        action="call",
        method=record.method,
        route=record.route,
        status_code=record.status_code,
        outcome=OUTCOMES.get(record.outcome, AuditEvent.Outcome.SERIOUS_FAILURE),
        outcome_detail=record.outcome if not record.error else f"{record.outcome}: {record.error}",
        latency_ms=record.latency_ms,
        upstream_request_id=record.request_id,
        object_type="sms",
        object_id=scope.get("object_id"),  # type: ignore[arg-type]
        attempt=scope.get("attempt"),  # type: ignore[arg-type]
        patient_ref=scope.get("patient_ref"),  # type: ignore[arg-type]
        department_ref=scope.get("department_ref"),  # type: ignore[arg-type]
        detail={"message_sid": record.object_id} if record.object_id else None,
    )


def twilio_config() -> TwilioConfig:
    return TwilioConfig(
        base_url=settings.TWILIO_BASE_URL,
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        from_number=settings.TWILIO_FROM_NUMBER,
        connect_timeout=settings.TWILIO_CONNECT_TIMEOUT,
        read_timeout=settings.TWILIO_READ_TIMEOUT,
    )


@lru_cache(maxsize=2)
def _process_client(config: TwilioConfig) -> TwilioClient:
    return TwilioClient(config, audit_sink=twilio_audit)


def twilio_client() -> TwilioClient:
    """The process-wide client for the configured account (one session, connection reuse)."""
    return _process_client(twilio_config())
