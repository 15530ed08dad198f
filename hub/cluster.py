"""The task cluster's guard, made safe against a process of the cluster killed with SIGKILL.

django-q2's workers share one multiprocessing queue of tasks, and send their results to the
monitor on another. An idle worker waits in `task_queue.get()` holding that queue's reader lock,
and a process sends on a queue holding its writer lock. A process killed with SIGKILL (the OOM
killer, an operator's `kill -9`) never releases them: django-q2's sentinel starts a new process in
its place, but the new one and every other worker then wait on the lock forever, and the cluster
carries nothing out until it is restarted as a whole (the rows wait safely, but nothing works them).

`HubSentinel` treats any sudden death — a worker that died outside a timeout or a recycle, the
pusher, the monitor — as the end of both queues: it kills the rest of the cluster's processes and
starts a full set on fresh queues, as a supervisor restarting the cluster would. A task a killed
worker was running is one a crash interrupted: the broker delivers it again after `retry`, the
sweepers re-queue due rows, and the ledgers reconcile a write whose outcome the worker never saw.
"""

from __future__ import annotations

import logging
from typing import Any

from django import db
from django_q import cluster
from django_q.conf import Conf
from django_q.queues import Queue

logger = logging.getLogger(__name__)

# django-q2's worker timer values: 0 after a timeout, -2 when the worker recycled itself.
_TIMED_OUT, _RECYCLED = 0, -2


class HubSentinel(cluster.Sentinel):
    """django-q2's sentinel, which renews its queues and processes after a sudden death."""

    pool: list[Any]
    monitor: Any
    pusher: Any
    task_queue: Any
    result_queue: Any

    def reincarnate(self, process: Any) -> None:
        if process is self.monitor:
            return self.renew("the task monitor died")
        if process is self.pusher:
            return self.renew("the task pusher died")
        if process not in self.pool:
            return None  # a process of the queues already renewed (the guard loop still held it)
        if process.timer.get_obj().value in (_TIMED_OUT, _RECYCLED):
            return super().reincarnate(process)  # django-q2 stopped it itself, holding no queue lock
        return self.renew("a task worker died")

    def renew(self, why: str) -> None:
        logger.critical("%s; starting the task cluster's processes again on fresh queues", why)
        for process in [*self.pool, self.monitor, self.pusher]:
            if process is not None and process.is_alive():
                process.kill()
        for process in [*self.pool, self.monitor, self.pusher]:
            if process is not None:
                process.join(timeout=10)
        for queue in (self.task_queue, self.result_queue):
            queue.cancel_join_thread()  # a lock of the old queue may be held for good: never wait on it
            queue.close()
        self.task_queue = Queue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else Queue()
        self.result_queue = Queue()
        if not Conf.SYNC:
            db.connections.close_all()
        self.pool = []
        for _ in range(self.pool_size):
            self.spawn_worker()
        self.monitor = self.spawn_monitor()
        self.pusher = self.spawn_pusher()
        self.reincarnations += 1


def install() -> None:
    """Make `manage.py qcluster` guard its processes with `HubSentinel` (called from the app's ready())."""
    cluster.Sentinel = HubSentinel  # type: ignore[misc]
