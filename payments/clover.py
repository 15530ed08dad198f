"""The hub's Clover client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row tagged with the payment, attempt, patient and location of
the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub.audit import call_audit, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.clover.client import CloverClient, CloverConfig
from hub.models import AuditEvent


@journaled(AuditEvent.System.CLOVER)
def clover_audit(record: CallRecord) -> None:
    """Write one audit row for one Clover HTTP attempt."""
    call_audit(record, system=AuditEvent.System.CLOVER, object_type="payment", upstream_key="clover_id")


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
