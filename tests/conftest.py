"""Shared fixtures: the athena sandbox as a real loopback server, wired into the hub's settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer, start_in_thread


@pytest.fixture
def practice(db: Any) -> Any:
    from tests.factories import make_practice

    return make_practice()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One sandbox for the whole run (reset before each test that uses it)."""
    server = start_in_thread(seed=1)
    yield server
    server.stop()


class Sandbox:
    """The sandbox as tests drive it: its control surface and its own records (the ground truth)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.url = server.url

    def configure(self, **patch: Any) -> dict[str, Any]:
        return self.server.configure(**patch)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def edit(self, edit: dict[str, Any]) -> Any:
        return self.control("POST", "edits", json=edit)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        body = self.control("GET", "requests", params={"limit": 100000, **filters})
        return body["requests"] if isinstance(body, dict) else body

    def records(self, kind: str, **filters: Any) -> dict[str, Any]:
        return self.control("GET", f"records/{kind}", params=filters)

    def patient(self, patient_id: str) -> dict[str, Any]:
        body = self.records("patients", full="true")
        return next(p for p in body["patients"] if str(p.get("patientid")) == str(patient_id))


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, settings: Any) -> Sandbox:
    """A freshly reset sandbox that the hub's athena client talks to (short timeouts for faults)."""
    sandbox_server.reset(1, restore_config=True, clear_tokens=True)
    settings.ATHENA_BASE_URL = sandbox_server.url
    settings.ATHENA_READ_TIMEOUT = 1.0
    settings.ATHENA_CONNECT_TIMEOUT = 1.0
    settings.ATHENA_RATE_LIMIT_PER_SECOND = 200.0
    settings.HUB_INTENT_BACKOFF_SECONDS = 0.01
    settings.HUB_INTENT_LEASE_SECONDS = 5
    settings.HUB_AMBIGUOUS_SETTLE_SECONDS = 2.0
    sandbox_server.configure(
        throttle={"per_second": 500.0},
        oauth={"tokens_per_minute": 1000},
        faults={"hang_seconds": 1.3, "slow_seconds": 1.3, "retry_after_seconds": 0},
    )
    from hub.athena import _process_client

    _process_client.cache_clear()
    return Sandbox(sandbox_server)


class TaskQueue:
    """The django-q2 queue as the cluster would see it, on whichever broker the run uses.

    On the ORM broker tasks are rows committed with the caller's transaction; on Redis they are
    pushed once the transaction commits, so requests that enqueue run inside `capture()`.
    """

    def __init__(self, capture: Any) -> None:
        from django_q.brokers import get_broker

        from hub.queue import uses_orm_broker

        self._capture = capture
        self._orm = uses_orm_broker()
        self._broker = None if self._orm else get_broker()
        if self._broker is not None:
            self._broker.purge_queue()

    def capture(self) -> Any:
        return self._capture(execute=True)

    def clear(self) -> None:
        from django_q.models import OrmQ

        if self._orm:
            OrmQ.objects.all().delete()
        else:
            assert self._broker is not None
            self._broker.purge_queue()

    def tasks(self) -> list[dict[str, Any]]:
        from django_q.models import OrmQ
        from django_q.signing import SignedPackage

        if self._orm:
            return [queued.task for queued in OrmQ.objects.all()]
        assert self._broker is not None
        raw = self._broker.connection.lrange(self._broker.list_key, 0, -1)
        return [SignedPackage.loads(item) for item in raw]


@pytest.fixture
def task_queue(db: Any, django_capture_on_commit_callbacks: Any) -> Iterator[TaskQueue]:
    queue = TaskQueue(django_capture_on_commit_callbacks)
    yield queue
    if queue._broker is not None:
        queue._broker.purge_queue()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (cached slot searches must not outlive their test's rows)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def connections_closed_after_each_use() -> Iterator[None]:
    """A deployment with `HUB_DB_CONN_MAX_AGE=0`: django-q2's ORM broker then closes the database
    connection at every enqueue outside a transaction (the code must not hold a cursor across one)."""
    from django.db import connection

    kept = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    connection.close()
    yield
    connection.settings_dict["CONN_MAX_AGE"] = kept
    connection.close()
