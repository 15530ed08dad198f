"""The scheduled safety nets, kept present after every migrate."""

from __future__ import annotations

from typing import Any

SCHEDULES = (
    ("hub: sweep due work", "sync.tasks.sweep", 1),
    ("hub: poll athena changed feeds", "sync.tasks.poll_changed_feeds", 1),
    ("hub: purge expired idempotency keys", "intake.tasks.purge_idempotency_keys", 60),
)


def ensure_schedules(**_: Any) -> None:
    """Create the django-q2 schedules that are missing (existing ones keep any admin edits)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
