"""Idempotency-Key handling for every portal write (IETF draft semantics, Stripe-style storage).

The key is claimed (committed, `in_flight`) before the work, and the response is stored with the
work's own transaction, so: the same key and body replays the stored answer; the same key with
another body is 422; a key whose first request is still running is 409; no key is 400. Requests
that fail validation store nothing (validation runs before the claim), and a request that
crashes releases its key so the portal can retry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from intake.api.problems import PROBLEM_CONTENT_TYPE, Problem
from intake.models import IdempotencyKey, PortalClient

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:~+/=-]{16,255}$")
# A claim older than this belongs to a request that died mid-way; a retry may take it over.
STALE_CLAIM = dt.timedelta(seconds=60)


def fingerprint(request: Request, payload: Any) -> str:
    """SHA-256 over method, route and the canonical form of the (validated) body."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def require_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip().strip('"')
    if not key:
        raise Problem(400, "idempotency-key-missing", "Every write needs an Idempotency-Key header.")
    if not KEY_PATTERN.match(key):
        raise Problem(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key must be 16 to 255 characters of letters, digits and ._:~+/=- (a UUID works).",
        )
    return key


def _claim(client: PortalClient, key: str, digest: str) -> IdempotencyKey | Response:
    now = timezone.now()
    expires = now + dt.timedelta(hours=settings.HUB_IDEMPOTENCY_KEY_TTL_HOURS)
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                client=client, key=key, fingerprint=digest, locked_at=now, expires_at=expires
            )
    except IntegrityError:
        pass
    with transaction.atomic():
        existing = IdempotencyKey.objects.select_for_update().get(client=client, key=key)
        if existing.expires_at <= now:
            # A pruned-in-spirit key starts a new request, as Stripe does after its retention.
            existing.fingerprint, existing.state = digest, IdempotencyKey.State.IN_FLIGHT
            existing.locked_at, existing.expires_at = now, expires
            existing.response_status, existing.response_body = None, None
            existing.save()
            return existing
        if existing.fingerprint != digest:
            raise Problem(
                422,
                "idempotency-key-reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request.",
            )
        if existing.state == IdempotencyKey.State.COMPLETED:
            replay = Response(existing.response_body, status=existing.response_status)
            if existing.response_status and existing.response_status >= 400:
                replay.content_type = PROBLEM_CONTENT_TYPE
            replay["Idempotent-Replayed"] = "true"
            return replay
        if now - existing.locked_at < STALE_CLAIM:
            raise Problem(
                409,
                "idempotency-key-in-flight",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            )
        existing.locked_at = now
        existing.save(update_fields=["locked_at"])
        return existing


def run_idempotent(
    request: Request, client: PortalClient, payload: Any, work: Callable[[str], tuple[int, dict[str, Any]]]
) -> Response:
    """Claim the key, run `work(key)` and store its answer with it; replay on a repeat."""
    key = require_key(request)
    claimed = _claim(client, key, fingerprint(request, payload))
    if isinstance(claimed, Response):
        return claimed
    try:
        with transaction.atomic():
            status_code, body = work(key)
            IdempotencyKey.objects.filter(pk=claimed.pk).update(
                state=IdempotencyKey.State.COMPLETED, response_status=status_code, response_body=body
            )
    except Exception:
        # Nothing of the work committed: free the key so the portal's retry can run it.
        IdempotencyKey.objects.filter(pk=claimed.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()
        raise
    return Response(body, status=status_code)


def purge_expired_keys() -> int:
    """Delete keys past their retention (at least 24 h; `HUB_IDEMPOTENCY_KEY_TTL_HOURS`)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
