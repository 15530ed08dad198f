"""How a Twilio call can fail, as the outbound-message ledger needs to tell it apart.

- `TwilioTransientError`: nothing was sent (or it was a read); trying again later is safe.
- `TwilioAmbiguousError`: a message create was sent and may have been accepted (timeout or reset
  after sending, a 5xx, an unreadable answer). Twilio's create is not idempotent: never resend
  blindly; look for the message first.
- `TwilioPermanentError`: Twilio refused (4xx other than 429); the same request fails the same way.
  `TwilioOptedOutError` is the refusal of error 21610: the recipient replied STOP to this number.

Messages name statuses, routes and Twilio error codes, never phone numbers or bodies.
"""

from __future__ import annotations

OPTED_OUT_CODE = 21610


class TwilioError(Exception):
    """Base of every Twilio client error."""

    def __init__(
        self, message: str, *, status_code: int | None = None, route: str = "", code: int | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.route = route
        self.code = code


class TwilioTransientError(TwilioError):
    """Safe to retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TwilioAmbiguousError(TwilioTransientError):
    """A message may have been created: reconcile (find it by its marker) before any resend."""


class TwilioPermanentError(TwilioError):
    """Twilio refused the request."""


class TwilioOptedOutError(TwilioPermanentError):
    """Error 21610: the recipient has opted out of messages from this number."""


class TwilioNotFoundError(TwilioPermanentError):
    """No such message (404)."""
