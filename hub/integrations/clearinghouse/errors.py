"""How a clearinghouse call can fail, as the eligibility checks need to tell it apart.

An eligibility inquiry changes nothing at the payer, so there is no "ambiguous" kind: a request
that timed out is simply asked again.

- `ClearinghouseTransientError`: timeouts, connection failures, 429 and 5xx; try again later.
- `ClearinghousePermanentError`: the clearinghouse refused the request (other 4xx); the same
  request fails the same way, so a person must look at the set-up.

Messages name statuses and routes, never X12 content (it carries names, dates of birth and ids).
"""

from __future__ import annotations


class ClearinghouseError(Exception):
    """Base of every clearinghouse client error."""

    def __init__(self, message: str, *, status_code: int | None = None, route: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.route = route


class ClearinghouseTransientError(ClearinghouseError):
    """Safe to ask again after `retry_after` seconds (None: the caller's own backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ClearinghousePermanentError(ClearinghouseError):
    """The clearinghouse refused the request."""
