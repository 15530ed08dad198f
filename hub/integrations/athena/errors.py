"""The three ways an athena call can fail, as the write-back ledger needs to tell them apart.

- `AthenaTransientError`: nothing happened (or it was a read); trying again later is safe.
- `AthenaAmbiguousError`: a write was sent and may have been applied (timeout or reset after
  sending, or a 5xx to a write: athena gives no idempotency keys, so a server error after the
  request reached it says nothing about whether it committed). Never resend blindly: read back.
- `AthenaPermanentError`: athena refused the request (4xx other than 429); retrying the same
  request will fail the same way.

Messages are safe to log: they name statuses, routes and field names, never values.
"""

from __future__ import annotations


class AthenaError(Exception):
    """Base of every athena client error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        route: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.route = route
        self.request_id = request_id


class AthenaTransientError(AthenaError):
    """Safe to retry after `retry_after` seconds (timeouts on reads, 429, 5xx on reads, refused connects)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AthenaAmbiguousError(AthenaTransientError):
    """A write may or may not have been applied: reconcile by reading athena back before any retry."""


class AthenaPermanentError(AthenaError):
    """athena refused the request; the same request will keep failing."""

    def __init__(
        self,
        message: str,
        *,
        missing_fields: list[str] | None = None,
        invalid_fields: list[str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.missing_fields = missing_fields or []
        self.invalid_fields = invalid_fields or []


class AthenaNotFoundError(AthenaPermanentError):
    """The resource does not exist (404)."""


class AthenaSlotUnavailableError(AthenaPermanentError):
    """The slot is already booked or not bookable through the API (409)."""


class AthenaAuthError(AthenaPermanentError):
    """Credentials were refused even after a fresh token."""
