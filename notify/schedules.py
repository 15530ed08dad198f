"""The notify app's scheduled tasks, kept present after every migrate."""

from __future__ import annotations

from typing import Any

SCHEDULES = (
    ("notify: sweep due text messages", "notify.tasks.sweep", 1),
    ("notify: plan reminders", "notify.tasks.plan_reminders", 10),
)


def ensure_schedules(**_: Any) -> None:
    """Create the django-q2 schedules that are missing (existing ones keep any admin edits)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )


def seed_templates(**_: Any) -> None:
    """One editable template per kind (after every migrate and test flush)."""
    from notify.wording import ensure_default_templates

    ensure_default_templates()
