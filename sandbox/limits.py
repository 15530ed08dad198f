"""Per-second throttle (token bucket per client) and the daily quota (per client, resets at midnight GMT)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from sandbox.wire import Reply

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def throttle(state: SandboxState, client_id: str) -> Reply | None:
    """Take one token from the client's bucket; a 429 with Retry-After when it is empty."""
    settings = state.config["throttle"]
    if not settings["enabled"]:
        return None
    rate = float(settings["per_second"])
    capacity = float(settings["burst"] if settings["burst"] is not None else rate)
    now = time.monotonic()
    with state.counters_lock:
        tokens, last = state.throttle_buckets.get(client_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1.0:
            state.throttle_buckets[client_id] = (tokens - 1.0, now)
            return None
        state.throttle_buckets[client_id] = (tokens, now)
    wait = (1.0 - tokens) / rate
    return Reply(
        status=int(settings["status"]),
        body=settings["body"],
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
        error=True,
    )


def _day(state: SandboxState) -> str:
    return state.clock.now().date().isoformat()


def quota_take(state: SandboxState, client_id: str) -> tuple[bool, int, int]:
    """Count one call against today's quota: (allowed, limit, remaining after this call)."""
    settings = state.config["quota"]
    limit = int(settings["daily_limit"])
    day = _day(state)
    with state.counters_lock:
        key = (client_id, day)
        used = state.quota_used.get(key, state.quota_default_used.get(day, 0))
        if settings["enabled"] and used >= limit:
            return False, limit, 0
        used += 1
        state.quota_used[key] = used
    return True, limit, max(0, limit - used)


def quota_peek(state: SandboxState, client_id: str | None) -> tuple[int, int]:
    """(limit, remaining) without counting; for responses that did not count (401, throttled)."""
    limit = int(state.config["quota"]["daily_limit"])
    day = _day(state)
    with state.counters_lock:
        if client_id is None:
            used = state.quota_default_used.get(day, 0)
        else:
            used = state.quota_used.get((client_id, day), state.quota_default_used.get(day, 0))
    return limit, max(0, limit - used)


def quota_set_remaining(state: SandboxState, remaining: int, client_id: str | None = None) -> dict[str, int]:
    """Set today's remaining calls for one client, or for every client (also those not seen yet)."""
    limit = int(state.config["quota"]["daily_limit"])
    used = max(0, limit - int(remaining))
    day = _day(state)
    with state.counters_lock:
        if client_id is None:
            state.quota_default_used[day] = used
            for key in list(state.quota_used):
                if key[1] == day:
                    state.quota_used[key] = used
        else:
            state.quota_used[(client_id, day)] = used
    return {"limit": limit, "remaining": max(0, limit - used)}


def quota_retry_after(state: SandboxState) -> int:
    now = state.clock.time()
    return max(1, math.ceil(86400 - now % 86400))
