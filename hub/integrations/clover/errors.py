"""How a Clover call can fail, as the payment ledger needs to tell it apart.

- `CloverTransientError`: nothing happened (or it was a read): try again later.
- `CloverAmbiguousError`: a financial call was sent and may have been applied (timeout or reset after
  sending, a 5xx, an unreadable answer). Resending with the *same* Idempotency-Key is safe while
  Clover remembers the key: it answers the first result again instead of charging twice.
- `CloverPermanentError`: Clover refused (4xx other than 429). `CloverDeclinedError` is a declined
  card (402); `CloverIdempotencyError` a key reused with other parameters.

Messages carry statuses, routes and Clover's error codes, never card data or amounts of a person.
"""

from __future__ import annotations


class CloverError(Exception):
    """Base of every Clover client error."""

    def __init__(self, message: str, *, status_code: int | None = None, route: str = "", code: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.route = route
        self.code = code


class CloverTransientError(CloverError):
    """Safe to retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class CloverAmbiguousError(CloverTransientError):
    """A financial call may have been applied: resend only with the same Idempotency-Key."""


class CloverPermanentError(CloverError):
    """Clover refused the request; the same request fails the same way."""


class CloverDeclinedError(CloverPermanentError):
    """The card was declined (402); `charge_id` names the failed charge Clover recorded."""

    def __init__(self, message: str, *, charge_id: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.charge_id = charge_id


class CloverIdempotencyError(CloverPermanentError):
    """The Idempotency-Key was already used with different parameters."""


class CloverNotFoundError(CloverPermanentError):
    """No such charge or refund (404)."""
