"""Enqueueing django-q2 tasks so that a task never outlives or precedes its rows.

On the ORM broker the task row is inserted in the caller's transaction and commits with it.
On Redis the enqueue waits for the commit; a crash in between is covered by the sweepers,
which re-enqueue whatever is due from the rows themselves.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from hub import context


def uses_orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER


def enqueue(func: str, *args: Any, group: str | None = None) -> None:
    """Queue `func(*args, correlation_id=...)`; arguments must be ids, never payloads or PHI."""
    kwargs: dict[str, Any] = {"correlation_id": context.get_correlation_id()}
    options: dict[str, Any] = {}
    if group:
        options["group"] = group

    def send() -> None:
        async_task(func, *args, **kwargs, q_options=options)

    if uses_orm_broker():
        send()
    else:
        transaction.on_commit(send)
