"""Pieces the partner clients share: the audit record of one attempt, the session, transport helpers.

A client hands one `CallRecord` per HTTP attempt to the audit sink it was given (the hub writes it
as an audit row). Records carry route templates, statuses and vendor error codes, never values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt to an outside system, as the audit trail records it."""

    method: str
    route: str
    status_code: int | None
    outcome: str  # "success" | "transient" | "ambiguous" | "permanent"
    latency_ms: int
    request_id: str = ""
    error: str = ""
    object_id: str = ""  # the vendor's id of what the call touched (message sid, charge id)


AuditSink = Callable[[CallRecord], None]


def audit_started(sink: Any, method: str, route: str) -> None:
    """Tell a journaling audit sink that a call is about to be sent (plain sinks have nothing to do)."""
    started = getattr(sink, "started", None)
    if started is not None:
        started(method, route)


class PartnerClient:
    """A partner's HTTP client: one pooled session without transport-level retries (a request goes
    out again only when the caller's ledger says so) and one audit record per attempt."""

    partner = "partner"  # named in the log line when the audit sink fails

    def __init__(
        self, config: Any, *, audit_sink: AuditSink | None = None, session: requests.Session | None = None
    ) -> None:
        self.config = config
        self.audit_sink = audit_sink or (lambda record: None)
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=0, pool_connections=2, pool_maxsize=8)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _audit(self, record: CallRecord) -> None:
        try:
            self.audit_sink(record)
        except Exception:
            logger.exception("%s audit sink failed for %s %s", self.partner, record.method, record.route)
            raise


def safe_json(response: requests.Response) -> Any:
    """The body as JSON, or None when it is not JSON."""
    text = response.text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = (
            (reason if isinstance(reason, BaseException) else None)
            or wrapped
            or current.__cause__
            or current.__context__
        )


def was_sent(exc: requests.RequestException) -> bool:
    """Did the request reach the server? Connect failures did not; read timeouts and resets may have."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    for cause in _exception_chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return False
        if type(cause).__name__ in {"NewConnectionError", "ConnectTimeoutError", "NameResolutionError"}:
            return False
    return True
