"""The hub's Twilio client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row tagged with the message, attempt, patient and location
of the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub.audit import call_audit, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.twilio.client import TwilioClient, TwilioConfig
from hub.models import AuditEvent


@journaled(AuditEvent.System.TWILIO)
def twilio_audit(record: CallRecord) -> None:
    """Write one audit row for one Twilio HTTP attempt."""
    call_audit(record, system=AuditEvent.System.TWILIO, object_type="sms", upstream_key="message_sid")


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
