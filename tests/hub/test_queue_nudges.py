"""Wake-ups of drain tasks are coalesced: a burst of new work queues a few tasks, not one each."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.signals import pre_execute

from hub.models import QueuedNudge
from hub.queue import nudge
from tests.conftest import TaskQueue

pytestmark = pytest.mark.django_db
RUN = "sync.tasks.run_intents"


def queued(task_queue: TaskQueue, func: str = RUN) -> int:
    return sum(task["func"] == func for task in task_queue.tasks())


def started(func: str = RUN) -> None:
    """What the cluster does as a worker takes the task (django-q2's pre_execute signal)."""
    pre_execute.send(sender="django_q", func=None, task={"func": func, "args": (), "kwargs": {}})


def test_a_burst_of_work_queues_as_many_wake_ups_as_may_wait(task_queue: TaskQueue, settings: Any) -> None:
    settings.HUB_NUDGES_WAITING = 3
    with task_queue.capture():
        for _ in range(200):
            nudge(RUN)
        nudge("sync.tasks.deliver_portal_events")
    assert queued(task_queue) == 3
    assert queued(task_queue, "sync.tasks.deliver_portal_events") == 1
    assert QueuedNudge.objects.get(func=RUN).waiting == 3


def test_a_task_that_starts_gives_its_place_to_the_next_wake_up(task_queue: TaskQueue, settings: Any) -> None:
    settings.HUB_NUDGES_WAITING = 1
    with task_queue.capture():
        nudge(RUN)
        nudge(RUN)
    assert queued(task_queue) == 1
    started()  # it will see every row committed so far; later work needs a new wake-up
    with task_queue.capture():
        nudge(RUN)
        nudge(RUN)
    assert queued(task_queue) == 2
    started()
    started()
    started()  # a task the sweeper's schedule ran, or one started twice after a crash
    assert QueuedNudge.objects.get(func=RUN).waiting == 0  # never below zero


def test_a_count_nobody_has_moved_for_a_while_is_not_trusted(task_queue: TaskQueue, settings: Any) -> None:
    settings.HUB_NUDGES_WAITING = 1
    settings.HUB_NUDGE_STALE_SECONDS = 30
    with task_queue.capture():
        nudge(RUN)
    # The message was lost (or its worker killed before starting it): the count stays at 1.
    QueuedNudge.objects.filter(func=RUN).update(sent_at=timezone.now() - dt.timedelta(seconds=31))
    with task_queue.capture():
        nudge(RUN)
    assert queued(task_queue) == 2
    assert QueuedNudge.objects.get(func=RUN).waiting == 1


def test_work_rolled_back_wakes_nothing(task_queue: TaskQueue) -> None:
    with task_queue.capture(), pytest.raises(RuntimeError), transaction.atomic():
        nudge(RUN)
        raise RuntimeError("the write failed")
    assert queued(task_queue) == 0
    assert not QueuedNudge.objects.filter(func=RUN, waiting__gt=0).exists()


def test_tasks_that_take_ids_are_never_coalesced(task_queue: TaskQueue) -> None:
    from hub.queue import enqueue

    with task_queue.capture():
        for upload_id in (1, 1, 2):
            enqueue("intake.tasks.read_card_upload", upload_id)
    assert [task["args"] for task in task_queue.tasks()] == [(1,), (1,), (2,)]
