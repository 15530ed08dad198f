"""The payments app's scheduled tasks, kept present after every migrate."""

from __future__ import annotations

from typing import Any

SCHEDULES = (
    ("payments: sweep due Clover operations", "payments.tasks.sweep", 1),
    ("payments: poll Clover and reconcile copays", "payments.tasks.reconcile_copays", 30),
)


def ensure_schedules(**_: Any) -> None:
    """Create the django-q2 schedules that are missing (existing ones keep any admin edits)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
