"""The hub's clearinghouse client: the integration client wired to settings and the audit trail.

Every HTTP attempt writes one audit row (system "clearinghouse") tagged with the eligibility check,
attempt, patient and location of the current call scope (`hub.context.call_scope`).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from hub.audit import call_audit, journaled
from hub.integrations.calls import CallRecord
from hub.integrations.clearinghouse.client import ClearinghouseClient, ClearinghouseConfig
from hub.models import AuditEvent


@journaled(AuditEvent.System.CLEARINGHOUSE)
def clearinghouse_audit(record: CallRecord) -> None:
    """Write one audit row for one clearinghouse HTTP attempt."""
    call_audit(record, system=AuditEvent.System.CLEARINGHOUSE, object_type="eligibility_check")


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
