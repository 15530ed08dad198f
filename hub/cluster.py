"""The task cluster's guard, made safe against a process of the cluster killed with SIGKILL.

django-q2's workers share one multiprocessing queue of tasks, and send their results to the
monitor on another. An idle worker waits in `task_queue.get()` holding that queue's reader lock,
and a process sends on a queue holding its writer lock. A process killed with SIGKILL (the OOM
killer, an operator's `kill -9`) never releases them: django-q2's sentinel starts a new process in
its place, but the new one and every other worker then wait on the lock forever, and the cluster
carries nothing out until it is restarted as a whole (the rows wait safely, but nothing works them).

`HubSentinel` treats any sudden death — a worker that died outside a timeout or a recycle, the
pusher, the monitor — as the end of both queues: it starts a new pusher, monitor and full pool of
workers on fresh queues. Old workers busy with a task finish it (its rows settle as usual; only its
result, sent to the old monitor, goes nowhere: the broker may deliver the task again, and every
hub task is a nudge that re-reads its rows); idle ones are stopped at once, and each finished one
at the next renewal or when the cluster stops.
"""

from __future__ import annotations

import logging
import time
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

    retiring: list[tuple[Any, float]]  # old workers finishing a task, with when they were retired

    def reincarnate(self, process: Any) -> None:
        if process is self.monitor:
            return self.renew("the task monitor died")
        if process is self.pusher:
            return self.renew("the task pusher died")
        if process not in self.pool:
            return None  # a worker of queues already renewed (the guard loop still held it)
        if process.timer.get_obj().value in (_TIMED_OUT, _RECYCLED):
            return super().reincarnate(process)  # django-q2 stopped it itself, holding no queue lock
        return self.renew("a task worker died")

    def renew(self, why: str) -> None:
        logger.critical("%s; starting the task cluster's processes again on fresh queues", why)
        now = time.monotonic()
        retiring = [
            (worker, since)
            for worker, since in getattr(self, "retiring", [])
            if worker.is_alive() and worker.timer.get_obj().value > 0 and now - since < self.timeout
        ]
        busy = [worker for worker in self.pool if worker.is_alive() and worker.timer.get_obj().value > 0]
        retiring += [(worker, now) for worker in busy]
        keep = {id(worker) for worker, _ in retiring}
        old = [*getattr(self, "retiring", []), *((worker, now) for worker in self.pool)]
        stopped = [worker for worker, _ in old if id(worker) not in keep] + [self.monitor, self.pusher]
        for process in stopped:
            if process is not None and process.is_alive():
                process.kill()
        for process in stopped:
            if process is not None:
                process.join(timeout=10)
        self.retiring = retiring
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

    def stop(self) -> None:
        for worker, _ in getattr(self, "retiring", []):
            if worker.is_alive():
                worker.kill()
        super().stop()


def install() -> None:
    """Make `manage.py qcluster` guard its processes with `HubSentinel` (called from the app's ready())."""
    cluster.Sentinel = HubSentinel  # type: ignore[misc]
