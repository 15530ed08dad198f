"""Twilio's Programmable Messaging API, as the hub uses it: send, fetch and list messages.

One `requests.Session`, a timeout on every call, HTTP Basic auth with the account SID and auth
token, form bodies in, dataclasses out. Every HTTP attempt goes through `_send`, which classifies
the outcome (success / transient / ambiguous / permanent) and hands one `CallRecord` to the audit
sink. Routes are templates (`/2010-04-01/Accounts/{AccountSid}/Messages.json`); no phone number or
message body ever reaches a record, a log line or an exception.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from hub.integrations.calls import AuditSink, CallRecord, PartnerClient, audit_started, retry_after, safe_json, was_sent
from hub.integrations.twilio.errors import (
    OPTED_OUT_CODE,
    TwilioAmbiguousError,
    TwilioNotFoundError,
    TwilioOptedOutError,
    TwilioPermanentError,
    TwilioTransientError,
)

MESSAGES_ROUTE = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE_ROUTE = "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json"


@dataclass(frozen=True)
class TwilioConfig:
    base_url: str
    account_sid: str
    auth_token: str
    from_number: str
    connect_timeout: float = 5.0
    read_timeout: float = 15.0


@dataclass(frozen=True)
class TwilioMessage:
    """A message resource (the recipient and body stay in memory: callers match on them, never log them)."""

    sid: str
    status: str
    to: str = ""
    body: str = ""
    direction: str = ""
    error_code: int | None = None
    date_created: dt.datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> TwilioMessage:
        code = str(data.get("error_code") or "")
        return cls(
            sid=str(data.get("sid") or ""),
            status=str(data.get("status") or ""),
            to=str(data.get("to") or ""),
            body=str(data.get("body") or ""),
            direction=str(data.get("direction") or ""),
            error_code=int(code) if code.isdigit() else None,
            date_created=_rfc2822(data.get("date_created")),
        )


def _rfc2822(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class TwilioClient(PartnerClient):
    """Twilio Messages API client: one session, one audit record per attempt, no automatic resends."""

    config: TwilioConfig
    partner = "twilio"

    def __init__(
        self, config: TwilioConfig, *, audit_sink: AuditSink | None = None, session: requests.Session | None = None
    ) -> None:
        super().__init__(config, audit_sink=audit_sink, session=session)
        self.session.auth = (config.account_sid, config.auth_token)

    def _url(self, template: str, **values: str) -> str:
        path = template.replace("{AccountSid}", quote(self.config.account_sid, safe=""))
        for name, value in values.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return self.config.base_url.rstrip("/") + path

    def _send(
        self,
        method: str,
        route: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        write: bool = False,
    ) -> Any:
        """One HTTP attempt, classified and audited."""
        audit_started(self.audit_sink, method, route)
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers={"Accept": "application/json"},
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            kind = "ambiguous" if write and was_sent(exc) else "transient"
            self._audit(CallRecord(method, route, None, kind, latency, error=type(exc).__name__))
            if kind == "ambiguous":
                raise TwilioAmbiguousError(f"twilio {method} {route} got no answer after sending", route=route) from exc
            raise TwilioTransientError(f"twilio {method} {route} failed: {type(exc).__name__}", route=route) from exc
        latency = int((time.monotonic() - started) * 1000)
        status = response.status_code
        request_id = response.headers.get("Twilio-Request-Id", "")
        body = safe_json(response)
        raw_code = str(body.get("code") or "") if isinstance(body, dict) else ""
        code = int(raw_code) if raw_code.isdigit() else None
        object_id = str(body.get("sid", "")) if isinstance(body, dict) and status < 300 else ""

        def record(outcome: str, error: str = "") -> None:
            self._audit(CallRecord(method, route, status, outcome, latency, request_id, error, object_id))

        common: dict[str, Any] = {"status_code": status, "route": route, "code": code}
        if status == 429:
            record("transient", "rate limited")
            raise TwilioTransientError(
                f"twilio {method} {route} rate limited", retry_after=retry_after(response), **common
            )
        if status >= 500:
            kind = "ambiguous" if write else "transient"
            record(kind, "server error")
            error_class = TwilioAmbiguousError if write else TwilioTransientError
            raise error_class(f"twilio {method} {route} answered {status}", **common)
        if status >= 400:
            record("permanent", f"twilio error {code}" if code else "refused")
            if status == 404:
                raise TwilioNotFoundError(f"twilio {method} {route} answered 404", **common)
            if code == OPTED_OUT_CODE:
                raise TwilioOptedOutError(f"twilio {method} {route}: recipient opted out (21610)", **common)
            raise TwilioPermanentError(f"twilio {method} {route} answered {status} (error {code})", **common)
        if not isinstance(body, dict):
            kind = "ambiguous" if write else "transient"
            record(kind, "unreadable body")
            error_class = TwilioAmbiguousError if write else TwilioTransientError
            raise error_class(f"twilio {method} {route} answered an unreadable body", **common)
        record("success")
        return body

    # --- endpoints ------------------------------------------------------------------------------

    def send_message(self, *, to: str, body: str, status_callback: str = "") -> TwilioMessage:
        """POST Messages.json: create (queue) one SMS from the configured number."""
        data = {"To": to, "From": self.config.from_number, "Body": body}
        if status_callback:
            data["StatusCallback"] = status_callback
        answer = self._send("POST", MESSAGES_ROUTE, self._url(MESSAGES_ROUTE), data=data, write=True)
        message = TwilioMessage.from_api(answer)
        if not message.sid:
            raise TwilioAmbiguousError(f"twilio POST {MESSAGES_ROUTE} answered without a sid", route=MESSAGES_ROUTE)
        return message

    def get_message(self, sid: str) -> TwilioMessage:
        """GET Messages/{MessageSid}.json."""
        return TwilioMessage.from_api(self._send("GET", MESSAGE_ROUTE, self._url(MESSAGE_ROUTE, MessageSid=sid)))

    def list_messages(self, *, to: str, page_size: int = 50, max_pages: int = 3) -> list[TwilioMessage]:
        """GET Messages.json for one recipient from our number, newest first, following `next_page_uri`."""
        params: dict[str, str] | None = {"To": to, "From": self.config.from_number, "PageSize": str(page_size)}
        url: str | None = self._url(MESSAGES_ROUTE)
        found: list[TwilioMessage] = []
        for _ in range(max_pages):
            if url is None:
                break
            answer = self._send("GET", MESSAGES_ROUTE, url, params=params)
            found.extend(TwilioMessage.from_api(item) for item in answer.get("messages") or [])
            next_page = answer.get("next_page_uri")
            # `next_page_uri` is a path under the API root that already carries the query.
            url, params = (self.config.base_url.rstrip("/") + str(next_page), None) if next_page else (None, None)
        return found


__all__ = ["TwilioClient", "TwilioConfig", "TwilioMessage"]
