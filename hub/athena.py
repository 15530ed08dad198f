"""The hub's athena client: the integration client wired to shared state and the audit trail.

The token and the request budget live in the database so that every web and worker process
shares one token per credential and one rate limit per practice; every attempt writes one
audit row tagged with the intent, attempt, patient and location of the current call scope.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from hub import context
from hub.audit import CALL_OUTCOMES, audit_record, journaled
from hub.integrations.athena.client import AthenaClient, AthenaConfig
from hub.integrations.athena.errors import AthenaTransientError
from hub.integrations.athena.support import CachedToken, CallRecord
from hub.models import AthenaToken, AuditEvent, RateLimitBucket


@journaled(AuditEvent.System.ATHENA)
def athena_audit(record: CallRecord) -> None:
    """Write one audit row for one athena HTTP attempt."""
    scope = context.get_call_scope()
    outcome = CALL_OUTCOMES.get(record.outcome, AuditEvent.Outcome.SERIOUS_FAILURE)
    detail = record.outcome if not record.error else f"{record.outcome}: {record.error}"
    audit_record(
        system=AuditEvent.System.ATHENA,
        direction=AuditEvent.Direction.OUTBOUND,
        action="token" if record.route.startswith("/oauth2/") else "call",
        method=record.method,
        route=record.route,
        status_code=record.status_code,
        outcome=outcome,
        outcome_detail=detail,
        latency_ms=record.latency_ms,
        upstream_request_id=record.request_id,
        intent_id=scope.get("intent_id"),  # type: ignore[arg-type]
        attempt=scope.get("attempt"),  # type: ignore[arg-type]
        patient_ref=scope.get("patient_ref"),  # type: ignore[arg-type]
        department_ref=scope.get("department_ref"),  # type: ignore[arg-type]
    )


class DatabaseTokenStore:
    """One token per credential in the database, refreshed by a single lease holder."""

    lease_seconds = 15.0
    poll_seconds = 0.05

    def __init__(self, credential: str) -> None:
        self.credential = credential
        self._cached: CachedToken | None = None
        self._lock = threading.Lock()

    def _row(self) -> AthenaToken:
        try:
            return AthenaToken.objects.get_or_create(credential=self.credential)[0]
        except IntegrityError:
            return AthenaToken.objects.get(credential=self.credential)

    @staticmethod
    def _token_of(row: AthenaToken) -> CachedToken | None:
        if not row.access_token or row.expires_at <= 0:
            return None
        return CachedToken(access_token=row.access_token, expires_at=row.expires_at, lifetime=row.lifetime)

    def current(self) -> CachedToken | None:
        return self._cached

    def refresh(self, fetch: Callable[[], CachedToken], *, margin: float) -> CachedToken:
        with self._lock:  # threads of this process queue here; processes queue on the lease
            while True:
                row = self._row()
                token = self._token_of(row)
                if token is not None and token.fresh(margin=margin):
                    self._cached = token
                    return token
                now = time.time()
                # Taken only if nobody refreshed since this read (the expiry seen is still stored):
                # otherwise the loop reads the new token instead of fetching another.
                taken = AthenaToken.objects.filter(
                    pk=row.pk, refreshing_until__lt=now, expires_at=row.expires_at
                ).update(refreshing_until=now + self.lease_seconds)
                if taken:
                    break
                time.sleep(self.poll_seconds)
            try:
                token = fetch()
            except BaseException:
                AthenaToken.objects.filter(pk=row.pk).update(refreshing_until=0)
                raise
            # The new token and the lease's release are one write: a waiter that found the lease
            # free while the old token was still stored would fetch a second token.
            row.access_token = token.access_token
            row.expires_at = token.expires_at
            row.lifetime = token.lifetime
            row.refreshing_until = 0
            row.save(update_fields=["access_token", "expires_at", "lifetime", "refreshing_until", "updated_at"])
            self._cached = token
            return token

    def invalidate(self, access_token: str) -> None:
        with self._lock:
            if self._cached is not None and self._cached.access_token == access_token:
                self._cached = None
            row = self._row()
            if row.access_token == access_token:
                AthenaToken.objects.filter(pk=row.pk, expires_at=row.expires_at).update(expires_at=0)

    def blocked_until(self) -> float:
        return float(
            AthenaToken.objects.filter(credential=self.credential).values_list("blocked_until", flat=True).first() or 0
        )

    def block(self, until: float) -> None:
        self._row()
        AthenaToken.objects.filter(credential=self.credential, blocked_until__lt=until).update(blocked_until=until)


class DatabaseRateLimiter:
    """Hands out request slots `1/rate` apart from one row, allowing a small burst."""

    def __init__(self, key: str, *, rate: float, burst: int = 1, max_wait: float = 30.0) -> None:
        self.key = key
        self.interval = 1.0 / rate
        self.burst = burst
        self.max_wait = max_wait
        self._quota_written_at = 0.0
        self._last_remaining: int | None = None

    def _bucket(self) -> RateLimitBucket:
        try:
            return RateLimitBucket.objects.get_or_create(key=self.key)[0]
        except IntegrityError:
            return RateLimitBucket.objects.get(key=self.key)

    def _take_slot(self, now: float) -> float | None:
        """Reserve the next slot in one statement (a short write, no read-then-write transaction)."""
        greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
        earliest = f"{greatest}(next_slot, %s, paused_until)"
        table = connection.ops.quote_name(RateLimitBucket._meta.db_table)
        key = connection.ops.quote_name("key")
        sql = (
            f"UPDATE {table} SET next_slot = {earliest} + %s "  # noqa: S608 - identifiers are ours
            f"WHERE {key} = %s AND {earliest} - %s <= %s RETURNING next_slot"
        )
        floor = now - (self.burst - 1) * self.interval
        with connection.cursor() as cursor:
            cursor.execute(sql, [floor, self.interval, self.key, floor, now, self.max_wait])
            row = cursor.fetchone()
        return None if row is None else float(row[0]) - self.interval

    def acquire(self) -> None:
        now = time.time()
        slot = self._take_slot(now)
        if slot is None:
            bucket = self._bucket()  # first use, or the budget is too far ahead
            slot = self._take_slot(now)
            if slot is None:
                wait = max(bucket.next_slot, bucket.paused_until) - now
                raise AthenaTransientError("athena request budget exhausted", retry_after=wait)
        wait = slot - now
        if wait > 0:
            time.sleep(wait)

    def pause(self, seconds: float) -> None:
        self._bucket()
        until = time.time() + seconds
        RateLimitBucket.objects.filter(key=self.key, paused_until__lt=until).update(paused_until=until)

    def observe_quota(self, limit: int | None, remaining: int | None) -> None:
        if remaining is None:
            return
        now = time.time()
        # A gauge for dashboards and alerts: written at most every 10 s per process.
        if self._last_remaining == remaining or now - self._quota_written_at < 10:
            return
        self._quota_written_at, self._last_remaining = now, remaining
        RateLimitBucket.objects.filter(key=self.key).update(
            quota_limit=limit, quota_remaining=remaining, quota_seen_at=timezone.now()
        )


def athena_config() -> AthenaConfig:
    return AthenaConfig(
        base_url=settings.ATHENA_BASE_URL,
        practice_id=settings.ATHENA_PRACTICE_ID,
        client_id=settings.ATHENA_CLIENT_ID,
        client_secret=settings.ATHENA_CLIENT_SECRET,
        scope=settings.ATHENA_SCOPE,
        connect_timeout=settings.ATHENA_CONNECT_TIMEOUT,
        read_timeout=settings.ATHENA_READ_TIMEOUT,
    )


def credential_key(config: AthenaConfig) -> str:
    return hashlib.sha256(f"{config.base_url}|{config.client_id}".encode()).hexdigest()


def rate_limit_key(config: AthenaConfig) -> str:
    return f"athena:{config.base_url}:{config.practice_id}"[:64]


def build_athena_client(config: AthenaConfig | None = None) -> AthenaClient:
    """A client on shared, database-backed token and rate-limit state, auditing every attempt."""
    config = config or athena_config()
    return AthenaClient(
        config,
        token_store=DatabaseTokenStore(credential_key(config)),
        rate_limiter=DatabaseRateLimiter(rate_limit_key(config), rate=settings.ATHENA_RATE_LIMIT_PER_SECOND),
        audit_sink=athena_audit,
    )


@lru_cache(maxsize=1)
def _process_client(base_url: str, practice_id: str, client_id: str) -> AthenaClient:
    return build_athena_client()


def athena_client() -> AthenaClient:
    """The process-wide client for the configured athena (one session, connection reuse)."""
    return _process_client(settings.ATHENA_BASE_URL, settings.ATHENA_PRACTICE_ID, settings.ATHENA_CLIENT_ID)
