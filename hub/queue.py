"""Enqueueing django-q2 tasks so that a task never outlives or precedes its rows.

On the ORM broker the task row is inserted in the caller's transaction and commits with it.
On Redis the enqueue waits for the commit; a crash in between is covered by the sweepers,
which re-enqueue whatever is due from the rows themselves.

Wake-ups of drain tasks (`nudge`) are coalesced: each such task does all the work due when it
starts, so a producer sends one only while fewer than `HUB_NUDGES_WAITING` of that function wait
unstarted. Without this, every new write, event and delivery queued its own wake-up, and under a
burst the queue grew faster than workers could pop no-op tasks, starving everything behind them.
The decision is taken after the producer's commit: a waiting task either starts after that commit
(and sees the new rows) or has already started and given its place back, so a nudge is then sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Model, Q, QuerySet, When
from django.utils import timezone
from django_q.tasks import async_task

from hub import context

M = TypeVar("M", bound=Model)


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


def rows_for_enqueueing(queryset: QuerySet[M], batch: int = 500) -> Iterator[M]:
    """The rows of `queryset`, for a loop whose body may queue tasks (use it instead of `.iterator()`).

    django-q2's ORM broker closes the database connection before it enqueues outside a
    transaction (`close_old_connections`, whenever the connection is past `CONN_MAX_AGE`), and an
    open `.iterator()` cursor dies with it. Here the keys are read first and each batch of rows
    is read whole before it is handed out, so no cursor is open while the loop's body runs.
    """
    keys = list(queryset.values_list("pk", flat=True))
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        rows = queryset.in_bulk(chunk)
        yield from (rows[key] for key in chunk if key in rows)


def nudge(func: str) -> None:
    """Wake a drain task `func()` once the caller's transaction commits, unless enough already wait."""
    correlation_id = context.get_correlation_id()
    transaction.on_commit(lambda: _nudge_now(func, correlation_id))


def _nudge_now(func: str, correlation_id: str) -> None:
    from hub.models import QueuedNudge

    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.HUB_NUDGE_STALE_SECONDS)
    with transaction.atomic():
        QueuedNudge.objects.get_or_create(func=func, defaults={"waiting": 0, "sent_at": now})
        taken = (
            QueuedNudge.objects.filter(func=func)
            .filter(Q(waiting__lt=max(1, settings.HUB_NUDGES_WAITING)) | Q(sent_at__lt=stale))
            .update(waiting=Case(When(sent_at__lt=stale, then=1), default=F("waiting") + 1), sent_at=now)
        )
    if taken:
        async_task(func, correlation_id=correlation_id)


def nudge_started(func: str) -> None:
    """A task of `func` is starting: one fewer waits (called before it looks for work)."""
    from hub.models import QueuedNudge

    QueuedNudge.objects.filter(func=func, waiting__gt=0).update(waiting=F("waiting") - 1)


def _on_task_start(sender: Any, task: dict[str, Any] | None = None, **kwargs: Any) -> None:
    func = (task or {}).get("func")
    if isinstance(func, str) and func in NUDGED:
        nudge_started(func)


# The drain tasks woken through `nudge`.
NUDGED = frozenset(
    {
        "sync.tasks.run_intents",
        "sync.tasks.process_inbound_events",
        "sync.tasks.deliver_portal_events",
        "eligibility.tasks.run_checks",
        "notify.tasks.send_due_messages",
        "payments.tasks.run_operations",
        "payments.tasks.process_clover_hints",
    }
)


def install() -> None:
    """Count tasks out as the cluster starts them (django-q2's pre_execute, in the worker)."""
    from django_q.signals import pre_execute

    pre_execute.connect(_on_task_start, dispatch_uid="hub.queue.nudge_started")
