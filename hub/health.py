"""Liveness and readiness probes for load balancers and orchestrators.

- `/healthz`: the process answers (no database access, so a slow database never restarts it).
- `/readyz`: the database answers, every migration is applied and the django-q2 broker is
  reachable (the ORM broker's table, or Redis). 200 when all hold, 503 naming what failed.

Neither says anything about patients, users or configuration values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


class NotReady(Exception):
    """A readiness failure whose message is safe to show (counts and names only)."""


# Once every migration is seen applied, the process does not re-read the migration graph on
# each probe (a deploy that adds migrations starts new processes anyway).
_migrations_seen_applied = False


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_migrations() -> None:
    global _migrations_seen_applied
    if _migrations_seen_applied:
        return
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise NotReady(f"{len(plan)} migrations not applied")
    _migrations_seen_applied = True


def _check_broker() -> None:
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    broker = get_broker()
    if Conf.ORM:
        broker.queue_size()  # a query on the broker's table
    elif not broker.ping():
        raise NotReady("broker did not answer")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "migrations": _check_migrations,
    "queue_broker": _check_broker,
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, migrations and queue broker all usable."""
    results: dict[str, dict[str, object]] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:
            ready = False
            # The class name is enough to act on and carries no connection strings.
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = {"ok": False, "error": str(exc) if isinstance(exc, NotReady) else type(exc).__name__}
        else:
            results[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": results}, status=200 if ready else 503)
