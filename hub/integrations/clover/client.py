"""Clover's e-commerce REST payments API, as the hub uses it: charges, refunds, voids, reads.

One `requests.Session`, a timeout on every call, a bearer token, JSON in, dataclasses out, amounts
in integer cents. Every financial call carries the `Idempotency-Key` the caller persisted before the
first attempt, so a resend after an unknown outcome charges once. Every HTTP attempt goes through
`_send`, which classifies the outcome and hands one `CallRecord` to the audit sink; card tokens
never reach a record, a log line or an exception.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from hub.integrations.calls import CallRecord, PartnerClient, audit_started, retry_after, safe_json, was_sent
from hub.integrations.clover.errors import (
    CloverAmbiguousError,
    CloverDeclinedError,
    CloverIdempotencyError,
    CloverNotFoundError,
    CloverPermanentError,
    CloverTransientError,
)

CHARGES_ROUTE = "/v1/charges"
CHARGE_ROUTE = "/v1/charges/{chargeId}"
VOID_ROUTE = "/v1/charges/{chargeId}/void"
REFUNDS_ROUTE = "/v1/refunds"
REFUND_ROUTE = "/v1/refunds/{refundId}"


@dataclass(frozen=True)
class CloverConfig:
    base_url: str
    api_token: str
    currency: str = "usd"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


def _millis(value: Any) -> dt.datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


def _cents(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class CloverCharge:
    charge_id: str
    amount: int
    amount_refunded: int = 0
    currency: str = "usd"
    status: str = ""
    paid: bool = False
    voided: bool = False
    created: dt.datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def net_collected(self) -> int:
        """What the merchant keeps: nothing for a failed or voided charge, else amount less refunds."""
        if not self.succeeded or self.voided:
            return 0
        return self.amount - self.amount_refunded

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CloverCharge:
        return cls(
            charge_id=str(data.get("id") or ""),
            amount=_cents(data.get("amount")),
            amount_refunded=_cents(data.get("amount_refunded")),
            currency=str(data.get("currency") or "usd"),
            status=str(data.get("status") or ""),
            paid=bool(data.get("paid")),
            voided=bool(data.get("voided")),
            created=_millis(data.get("created")),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class CloverRefund:
    refund_id: str
    charge_id: str
    amount: int
    status: str = ""
    created: dt.datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CloverRefund:
        return cls(
            refund_id=str(data.get("id") or ""),
            charge_id=str(data.get("charge") or ""),
            amount=_cents(data.get("amount")),
            status=str(data.get("status") or ""),
            created=_millis(data.get("created")),
        )


class CloverClient(PartnerClient):
    """Clover e-commerce client: one session, one audit record per attempt, keys supplied by the caller."""

    config: CloverConfig
    partner = "clover"

    def _url(self, template: str, **values: str) -> str:
        path = template
        for name, value in values.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return self.config.base_url.rstrip("/") + path

    def _send(
        self, method: str, route: str, url: str, *, json_body: dict[str, Any] | None = None, idempotency_key: str = ""
    ) -> dict[str, Any]:
        """One HTTP attempt, classified and audited; financial calls (with a key) may be ambiguous."""
        write = bool(idempotency_key)
        headers = {"Authorization": f"Bearer {self.config.api_token}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        audit_started(self.audit_sink, method, route)
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                headers=headers,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            kind = "ambiguous" if write and was_sent(exc) else "transient"
            self._audit(CallRecord(method, route, None, kind, latency, error=type(exc).__name__))
            if kind == "ambiguous":
                raise CloverAmbiguousError(f"clover {method} {route} got no answer after sending", route=route) from exc
            raise CloverTransientError(f"clover {method} {route} failed: {type(exc).__name__}", route=route) from exc
        latency = int((time.monotonic() - started) * 1000)
        status = response.status_code
        body = safe_json(response)
        fields: dict[str, Any] = body if isinstance(body, dict) else {}
        error: dict[str, Any] = fields["error"] if isinstance(fields.get("error"), dict) else {}
        code = str(error.get("code") or "")
        object_id = str(fields.get("id") or error.get("charge") or "")
        request_id = response.headers.get("X-Request-Id", "") or response.headers.get("X-Clover-Request-Id", "")

        def record(outcome: str, detail: str = "") -> None:
            self._audit(CallRecord(method, route, status, outcome, latency, request_id, detail, object_id))

        common: dict[str, Any] = {"status_code": status, "route": route, "code": code}
        if status == 429:
            record("transient", "rate limited")
            raise CloverTransientError(
                f"clover {method} {route} rate limited", retry_after=retry_after(response), **common
            )
        if status >= 500:
            kind = "ambiguous" if write else "transient"
            record(kind, "server error")
            error_class = CloverAmbiguousError if write else CloverTransientError
            raise error_class(f"clover {method} {route} answered {status}", **common)
        if status >= 400:
            record("permanent", code or "refused")
            if status == 402:
                raise CloverDeclinedError(
                    f"clover {method} {route}: card declined", charge_id=str(error.get("charge") or ""), **common
                )
            if status == 404:
                raise CloverNotFoundError(f"clover {method} {route} answered 404", **common)
            if code == "idempotency_key_reused":
                raise CloverIdempotencyError(f"clover {method} {route}: Idempotency-Key reused", **common)
            raise CloverPermanentError(f"clover {method} {route} answered {status} ({code or 'refused'})", **common)
        if not isinstance(body, dict):
            kind = "ambiguous" if write else "transient"
            record(kind, "unreadable body")
            error_class = CloverAmbiguousError if write else CloverTransientError
            raise error_class(f"clover {method} {route} answered an unreadable body", **common)
        record("success", "replayed" if response.headers.get("Idempotent-Replayed") == "true" else "")
        return body

    # --- endpoints ------------------------------------------------------------------------------

    def create_charge(
        self,
        *,
        amount_cents: int,
        source: str,
        idempotency_key: str,
        description: str = "",
        metadata: dict[str, str] | None = None,
    ) -> CloverCharge:
        """POST /v1/charges: charge a card token (amount in cents) under the caller's Idempotency-Key."""
        body: dict[str, Any] = {
            "amount": int(amount_cents),
            "currency": self.config.currency,
            "source": source,
            "description": description,
            "metadata": metadata or {},
        }
        answer = self._send(
            "POST", CHARGES_ROUTE, self._url(CHARGES_ROUTE), json_body=body, idempotency_key=idempotency_key
        )
        return CloverCharge.from_api(answer)

    def get_charge(self, charge_id: str) -> CloverCharge:
        """GET /v1/charges/{chargeId}."""
        return CloverCharge.from_api(self._send("GET", CHARGE_ROUTE, self._url(CHARGE_ROUTE, chargeId=charge_id)))

    def create_refund(
        self, *, charge_id: str, amount_cents: int, idempotency_key: str, metadata: dict[str, str] | None = None
    ) -> CloverRefund:
        """POST /v1/refunds: refund part or all of a charge under the caller's Idempotency-Key."""
        body = {"charge": charge_id, "amount": int(amount_cents), "metadata": metadata or {}}
        answer = self._send(
            "POST", REFUNDS_ROUTE, self._url(REFUNDS_ROUTE), json_body=body, idempotency_key=idempotency_key
        )
        return CloverRefund.from_api(answer)

    def get_refund(self, refund_id: str) -> CloverRefund:
        """GET /v1/refunds/{refundId}."""
        return CloverRefund.from_api(self._send("GET", REFUND_ROUTE, self._url(REFUND_ROUTE, refundId=refund_id)))

    def void_charge(self, *, charge_id: str, idempotency_key: str) -> CloverCharge:
        """POST /v1/charges/{chargeId}/void: cancel a payment before it settles (Clover's 25-minute window)."""
        url = self._url(VOID_ROUTE, chargeId=charge_id)
        return CloverCharge.from_api(self._send("POST", VOID_ROUTE, url, json_body={}, idempotency_key=idempotency_key))


__all__ = ["CloverCharge", "CloverClient", "CloverConfig", "CloverRefund"]
