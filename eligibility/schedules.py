"""The eligibility app's scheduled tasks, kept present after every migrate."""

from __future__ import annotations

from typing import Any

SCHEDULES = (
    ("eligibility: sweep due checks", "eligibility.tasks.sweep", 1),
    # Hourly, but a visit is re-checked only when its last answer is older than
    # ELIGIBILITY_RECHECK_AFTER_HOURS: in effect once a day for each visit of the next days.
    ("eligibility: re-check upcoming visits", "eligibility.tasks.plan_rechecks", 60),
)


def ensure_schedules(**_: Any) -> None:
    """Create the django-q2 schedules that are missing (existing ones keep any admin edits)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
