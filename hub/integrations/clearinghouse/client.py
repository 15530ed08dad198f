"""A real-time eligibility clearinghouse over HTTP: one raw X12 270 per POST, the answer in the body.

One `requests.Session`, a timeout on every call, one `CallRecord` per attempt to the audit sink.
The answer to a 270 is X12 text: a 271, or a 999 / TA1 when the request or its envelope was
refused; which one it is, is read from the text by the caller (the clearinghouse's
`X-Answer-Kind` header is only a hint). Routes are templates; no X12 ever reaches a record, a log
line or an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from hub.integrations.calls import CallRecord, PartnerClient, audit_started, retry_after
from hub.integrations.clearinghouse.errors import ClearinghousePermanentError, ClearinghouseTransientError

INQUIRY_ROUTE = "/270"
X12_CONTENT_TYPE = "application/edi-x12"


@dataclass(frozen=True)
class ClearinghouseConfig:
    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class ClearinghouseAnswer:
    """The raw answer to one 270 (X12 text) and what the clearinghouse said it is."""

    text: str
    status_code: int
    kind_hint: str = ""
    request_id: str = ""


class ClearinghouseClient(PartnerClient):
    """Sends 270s; one audit record per attempt; no automatic retries (the check's row decides)."""

    config: ClearinghouseConfig
    partner = "clearinghouse"

    def send_270(self, text: str) -> ClearinghouseAnswer:
        """POST /270: one real-time eligibility inquiry; the answer is a 271, 999 or TA1 interchange."""
        url = self.config.base_url.rstrip("/") + INQUIRY_ROUTE
        audit_started(self.audit_sink, "POST", INQUIRY_ROUTE)
        started = time.monotonic()
        try:
            response = self.session.post(
                url,
                data=text.encode("ascii", errors="replace"),
                headers={"Content-Type": X12_CONTENT_TYPE, "Accept": X12_CONTENT_TYPE},
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            self._audit(CallRecord("POST", INQUIRY_ROUTE, None, "transient", latency, error=type(exc).__name__))
            raise ClearinghouseTransientError(
                f"clearinghouse POST {INQUIRY_ROUTE} failed: {type(exc).__name__}", route=INQUIRY_ROUTE
            ) from exc
        latency = int((time.monotonic() - started) * 1000)
        status = response.status_code
        request_id = response.headers.get("X-Request-Id", "")

        def record(outcome: str, error: str = "") -> None:
            self._audit(CallRecord("POST", INQUIRY_ROUTE, status, outcome, latency, request_id, error))

        if status == 429 or status >= 500:
            record("transient", "rate limited" if status == 429 else "server error")
            raise ClearinghouseTransientError(
                f"clearinghouse POST {INQUIRY_ROUTE} answered {status}",
                retry_after=retry_after(response),
                status_code=status,
                route=INQUIRY_ROUTE,
            )
        if status >= 400:
            record("permanent", "refused")
            raise ClearinghousePermanentError(
                f"clearinghouse POST {INQUIRY_ROUTE} answered {status}", status_code=status, route=INQUIRY_ROUTE
            )
        body = response.content.decode("ascii", errors="replace")
        if not body.strip():
            record("transient", "empty body")
            raise ClearinghouseTransientError(
                f"clearinghouse POST {INQUIRY_ROUTE} answered an empty body", status_code=status, route=INQUIRY_ROUTE
            )
        record("success")
        return ClearinghouseAnswer(
            text=body, status_code=status, kind_hint=response.headers.get("X-Answer-Kind", ""), request_id=request_id
        )


__all__ = ["ClearinghouseAnswer", "ClearinghouseClient", "ClearinghouseConfig"]
