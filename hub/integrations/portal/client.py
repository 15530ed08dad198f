"""Delivering signed events to the portal's webhook endpoint (Standard Webhooks v1)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from standardwebhooks.webhooks import Webhook

from hub.integrations.calls import audit_started


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    latency_ms: int
    error: str = ""
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """The portal answered 410: it wants no more deliveries to this endpoint."""
        return self.status_code == 410


@dataclass(frozen=True)
class DeliveryRecord:
    route: str
    status_code: int | None
    latency_ms: int
    error: str
    event_id: str


def sign(secrets: list[str], message_id: str, timestamp: dt.datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,` signature per active secret (rotation)."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets if secret)


class PortalWebhookClient:
    """POSTs thin event payloads to the portal, signed with the current (and previous) secret."""

    def __init__(
        self,
        *,
        secrets: list[str],
        timeout: float = 5.0,
        audit_sink: Callable[[DeliveryRecord], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.secrets = [secret for secret in secrets if secret]
        self.timeout = timeout
        self.audit_sink = audit_sink or (lambda record: None)
        self.session = session or requests.Session()

    def deliver(self, url: str, *, message_id: str, payload: dict[str, Any]) -> DeliveryResult:
        """POST one event; never raises for network trouble (the result says what happened)."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        now = dt.datetime.now(dt.UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(self.secrets, message_id, now, body),
        }
        audit_started(self.audit_sink, "POST", urlsplit(url).path or "/")
        started = time.monotonic()
        try:
            response = self.session.post(url, data=body.encode(), headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            result = DeliveryResult(None, int((time.monotonic() - started) * 1000), type(exc).__name__)
        else:
            retry_after = response.headers.get("Retry-After")
            try:
                wait = float(retry_after) if retry_after else None
            except ValueError:
                wait = None
            result = DeliveryResult(response.status_code, int((time.monotonic() - started) * 1000), "", wait)
        self.audit_sink(
            DeliveryRecord(urlsplit(url).path or "/", result.status_code, result.latency_ms, result.error, message_id)
        )
        return result
