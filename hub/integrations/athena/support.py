"""Collaborators the athena client is given: token store, rate limiter, audit sink.

The client itself holds no models; the hub passes database-backed versions of these so that
every worker process shares one token and one request budget per practice. The in-memory
versions here serve single-process use (commands, tests of the client alone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CachedToken:
    access_token: str
    expires_at: float  # time.time() seconds
    lifetime: float

    def fresh(self, *, margin: float, now: float | None = None) -> bool:
        """Still usable with `margin` (a fraction of its lifetime) to spare."""
        now = time.time() if now is None else now
        return now < self.expires_at - self.lifetime * margin


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt to athena, as the audit trail records it (no values, no tokens)."""

    method: str
    route: str
    status_code: int | None
    outcome: str  # "success" | "transient" | "ambiguous" | "permanent"
    latency_ms: int
    request_id: str = ""
    error: str = ""
    retry_of_auth: bool = False


class TokenStore(Protocol):
    def current(self) -> CachedToken | None: ...

    def refresh(self, fetch: Callable[[], CachedToken], *, margin: float) -> CachedToken:
        """Return a fresh token, calling `fetch` at most once across every caller that races here."""
        ...

    def invalidate(self, access_token: str) -> None: ...

    def blocked_until(self) -> float: ...

    def block(self, until: float) -> None: ...


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Wait for a request slot; raise AthenaTransientError when the wait would be too long."""
        ...

    def pause(self, seconds: float) -> None:
        """athena said 429: hold every caller back for `seconds`."""
        ...

    def observe_quota(self, limit: int | None, remaining: int | None) -> None: ...


AuditSink = Callable[[CallRecord], None]


class MemoryTokenStore:
    """A process-local token with single-flight refresh across threads."""

    def __init__(self) -> None:
        self._token: CachedToken | None = None
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def current(self) -> CachedToken | None:
        return self._token

    def refresh(self, fetch: Callable[[], CachedToken], *, margin: float) -> CachedToken:
        with self._lock:
            if self._token is not None and self._token.fresh(margin=margin):
                return self._token
            self._token = fetch()
            return self._token

    def invalidate(self, access_token: str) -> None:
        with self._lock:
            if self._token is not None and self._token.access_token == access_token:
                self._token = None

    def blocked_until(self) -> float:
        return self._blocked_until

    def block(self, until: float) -> None:
        self._blocked_until = max(self._blocked_until, until)


class MemoryRateLimiter:
    """A token bucket for one process: `rate` requests per second with a burst of `burst`."""

    def __init__(self, rate: float, burst: float | None = None, max_wait: float = 30.0) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.max_wait = max_wait
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.quota_limit: int | None = None
        self.quota_remaining: int | None = None

    def _reserve(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = max(0.0, self._paused_until - now)
            self._tokens -= 1
            if self._tokens < 0:
                wait = max(wait, -self._tokens / self.rate)
            return wait

    def acquire(self) -> None:
        from hub.integrations.athena.errors import AthenaTransientError

        wait = self._reserve()
        if wait > self.max_wait:
            with self._lock:
                self._tokens += 1  # give the slot back: this caller is not going to use it
            raise AthenaTransientError("athena request budget exhausted", retry_after=wait)
        if wait > 0:
            time.sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def observe_quota(self, limit: int | None, remaining: int | None) -> None:
        self.quota_limit, self.quota_remaining = limit, remaining
