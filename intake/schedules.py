"""The intake app's scheduled tasks (insurance cards), kept present after every migrate."""

from __future__ import annotations

from typing import Any

SCHEDULES = (("intake: sweep card uploads", "intake.tasks.sweep_card_uploads", 2),)


def ensure_schedules(**_: Any) -> None:
    """Create the django-q2 schedules that are missing (existing ones keep any admin edits)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
