"""Processing athena's notifications right after they are acknowledged, in the receiving process.

A queue hop costs more than the whole rest of the EHR → portal path (django-q2's ORM broker
polls), so the webhook hands new events to a small thread pool of its own process once its
transaction commits. Nothing depends on this: the rows are stored before the acknowledgement,
and the scheduled sweeper queues whatever is still `received` (a crashed or restarted process).
"""

from __future__ import annotations

import logging
import queue
import threading

from django.conf import settings
from django.db import connection, transaction

from hub import context

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_work: queue.SimpleQueue[str | None] = queue.SimpleQueue()
_threads: list[threading.Thread] = []
_waiting = 0  # runs submitted but not started: one is enough, it will see every new event
_running = 0


def _lane() -> None:
    """One fast-path thread: runs what is submitted, on a database connection it keeps between runs
    (opening one costs about a millisecond); `None` tells it to close the connection and end."""
    while (correlation_id := _work.get()) is not None:
        _run(correlation_id)
    connection.close()


def _start_threads() -> None:
    with _lock:
        while len(_threads) < settings.HUB_INBOUND_FAST_PATH_THREADS:
            thread = threading.Thread(target=_lane, name=f"inbound_{len(_threads)}", daemon=True)
            thread.start()
            _threads.append(thread)


def _run(correlation_id: str) -> None:
    global _waiting, _running
    from auditlog.context import set_actor

    from hub.athena import athena_client
    from sync.inbound import inbound_events_process_due
    from sync.models import InboundEvent
    from sync.portal_events import portal_events_deliver_due
    from sync.tasks import SERVICE_ACTOR, service_user

    with _lock:
        _waiting -= 1
        _running += 1
    try:
        with context.bind(correlation_id=correlation_id, actor=SERVICE_ACTOR), set_actor(service_user()):
            # Only webhook events: the worker reads the safety nets' (feed) events, so a feed read
            # of a minute of changes never slows this process's acknowledgements.
            inbound_events_process_due(
                client=athena_client(), budget_seconds=10, sources=(InboundEvent.Source.WEBHOOK,)
            )
            portal_events_deliver_due(budget_seconds=10)
    except Exception:
        # The events stay `received`; the sweeper hands them to a worker.
        logger.exception("inbound fast path failed; the sweeper will retry")
    finally:
        # Kept for the next run unless broken, left in a transaction or past CONN_MAX_AGE.
        connection.close_if_unusable_or_obsolete()
        with _lock:
            _running -= 1


def process_after_commit() -> None:
    """Process received events on a background thread once the current transaction commits."""
    correlation_id = context.get_correlation_id()

    def submit() -> None:
        global _waiting
        with _lock:
            if _waiting > 0:
                return
            _waiting += 1
        _start_threads()
        _work.put(correlation_id)

    transaction.on_commit(submit)


def idle() -> bool:
    """True when no fast-path run is waiting or running (tests wait for this)."""
    with _lock:
        return _waiting == 0 and _running == 0


def stop() -> None:
    """End the threads once they finish what was submitted, closing their connections (tests)."""
    with _lock:
        threads = list(_threads)
        _threads.clear()
    for _ in threads:
        _work.put(None)
    for thread in threads:
        thread.join(timeout=30)
