"""Open-slot searches, answered from a short cache.

A portal's patients search the same few days at the same locations again and again, and every
search costs athena a call from the practice's rate budget, which write-backs share. So an answer
is kept for `HUB_SLOT_CACHE_SECONDS` (0 turns the cache off). It is forgotten early whenever the
hub learns of any appointment change at the location (a booking, cancellation or reschedule made
here or in athena): each location's cache entries carry a generation that such a change moves on.

Booking never trusts the cache: the slot is read from athena before the booking is accepted, and
athena answers a taken slot with 409, so a stale listing costs a patient one "choose another
time", never a double booking. Only slot facts are cached (ids, times, providers): no PHI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from hub.athena import athena_client
from hub.models import Department


def _generation_key(department_id: int) -> str:
    return f"hub:slots:generation:{department_id}"


def slots_forget(department_id: int) -> None:
    """Drop a location's cached searches (called once the change that makes them stale commits)."""
    cache.set(_generation_key(department_id), time.time_ns(), timeout=None)


def slots_forget_on_commit(department_id: int) -> None:
    transaction.on_commit(lambda: slots_forget(department_id))


def slots_search(
    *,
    department: Department,
    start: dt.date,
    end: dt.date,
    provider_ids: list[str] | None,
    reason_ids: list[str] | None,
    appointment_type_id: str | None,
) -> list[dict[str, Any]]:
    """Open slots at a location as the portal sees them (athena errors propagate to the caller)."""

    def fetch() -> list[dict[str, Any]]:
        slots = athena_client().list_open_slots(
            department_id=department.athena_department_id,
            start_date=start,
            end_date=end,
            provider_ids=provider_ids,
            reason_ids=reason_ids,
            appointment_type_id=appointment_type_id,
        )
        return [slot_payload(slot, department.athena_department_id) for slot in slots if slot.status == "o"]

    ttl = settings.HUB_SLOT_CACHE_SECONDS
    if ttl <= 0:
        return fetch()
    generation = cache.get(_generation_key(department.pk)) or 0
    query = json.dumps(
        [
            department.athena_department_id,
            start.isoformat(),
            end.isoformat(),
            provider_ids,
            reason_ids,
            appointment_type_id,
        ]
    )
    key = f"hub:slots:{department.pk}:{generation}:{hashlib.sha256(query.encode()).hexdigest()[:32]}"
    found = cache.get(key)
    if found is not None:
        return list(found)
    payload = fetch()
    cache.set(key, payload, timeout=ttl)
    return payload


def slot_payload(slot: Any, location_id: str) -> dict[str, Any]:
    return {
        "slot_id": slot.appointment_id,
        "location_id": location_id,
        "provider_id": slot.provider_id,
        "appointment_type_id": slot.appointment_type_id,
        "appointment_type": slot.appointment_type,
        "date": slot.date,
        "start_time": slot.start_time,
        "duration_minutes": slot.duration_minutes,
    }
