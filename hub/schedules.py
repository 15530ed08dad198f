"""django-q2 schedules of the hub core, kept in step with settings after every `migrate`.

A post_migrate hook (connected by `hub.admin_apps`) creates or updates the rows by name, so
running migrate again changes nothing and a changed interval setting takes effect on the next
deploy. The first run of a new schedule is left to django-q2 (soon after creation) except the
purge, which runs in the quiet hours.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

PURGE_SCHEDULE = "hub: retention purge"
ALERTS_SCHEDULE = "hub: evaluate alerts"
PURGE_HOUR_UTC = 8  # 03:00-04:00 on the US east coast, before any clinic opens


def _next_purge_run(now: dt.datetime) -> dt.datetime:
    run = now.replace(hour=PURGE_HOUR_UTC, minute=30, second=0, microsecond=0)
    return run if run > now else run + dt.timedelta(days=1)


def schedules_sync(**_: Any) -> None:
    """Create or update the hub's Schedule rows (idempotent)."""
    from django_q.models import Schedule

    if Schedule._meta.db_table not in connection.introspection.table_names():
        return  # django_q not migrated yet (e.g. `migrate hub` alone); the next full migrate adds them
    now = timezone.now()
    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE,
        defaults={"func": "hub.tasks.purge_expired_task", "schedule_type": Schedule.DAILY, "repeats": -1},
        create_defaults={
            "func": "hub.tasks.purge_expired_task",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": _next_purge_run(now),
        },
    )
    Schedule.objects.update_or_create(
        name=ALERTS_SCHEDULE,
        defaults={
            "func": "hub.tasks.alerts_evaluate_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.HUB_ALERT_EVALUATE_MINUTES,
            "repeats": -1,
        },
    )
