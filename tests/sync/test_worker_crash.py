"""A task worker killed with SIGKILL in the middle of an athena write loses nothing and writes nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from hub.athena import build_athena_client
from sync.models import WriteIntent
from sync.services import intents_run_due
from tests.api.conftest import make_portal, registration
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "/v1/{practiceid}/patients"


def database_url() -> str:
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    host, port = params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    return f"postgres://{params['USER']}:{params['PASSWORD']}@{host}:{port}/{params['NAME']}"


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_write_is_reconciled_and_the_write_happens_once(sandbox: Sandbox, tmp_path: Path) -> None:
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("crash-portal", locations=["1"])
    body = registration(last_name="Crashcheck")
    assert portal.post("/api/v1/patients", body).status_code == 202
    intent = WriteIntent.objects.get(operation="create_patient")
    # athena will commit the new chart, then keep the answer back long enough for us to kill the worker.
    sandbox.configure(
        faults={"rules": [{"method": "POST", "route": ROUTE, "kind": "hang_after", "count": 1, "hang_seconds": 8}]}
    )

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "HUB_VAR_DIR": str(tmp_path),
        "ATHENA_BASE_URL": sandbox.url,
        "ATHENA_READ_TIMEOUT": "30",
        "ATHENA_RATE_LIMIT_PER_SECOND": "100",
        "HUB_INTENT_LEASE_SECONDS": "2",
    }
    worker = subprocess.Popen(  # a real worker process running the ledger task
        [sys.executable, "manage.py", "run_intents", "--budget", "30"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for(lambda: sandbox.records("patients", created_via="api")["patients"], 20, "athena to commit the chart")
        assert WriteIntent.objects.get(pk=intent.pk).state == "in_flight"  # the worker is waiting for athena
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert worker.returncode == -signal.SIGKILL

    # Another worker picks the intent up once the dead one's lease runs out, and reads athena back.
    with_lease_expired = time.monotonic() + 2.5
    while time.monotonic() < with_lease_expired:
        time.sleep(0.1)
    intents_run_due(client=build_athena_client(), budget_seconds=20)
    intent.refresh_from_db()
    assert intent.state == "succeeded" and intent.reconciled
    assert [e.note for e in intent.events.order_by("pk")][:3] == ["created", "claimed", "lease expired"]
    posts = sandbox.requests(route=ROUTE, method="POST")
    assert len(posts) == 1  # never resent
    assert len(sandbox.records("patients", created_via="api")["patients"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_call_cut_short_by_a_kill_gets_its_audit_row_once(sandbox: Sandbox, tmp_path: Path) -> None:
    from hub.audit import recover_interrupted_calls
    from hub.models import AuditEvent, CallInFlight

    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("audit-crash-portal", locations=["1"])
    assert portal.post("/api/v1/patients", registration(last_name="Auditcheck")).status_code == 202
    intent = WriteIntent.objects.get(operation="create_patient")
    sandbox.configure(
        faults={"rules": [{"method": "POST", "route": ROUTE, "kind": "hang_after", "count": 1, "hang_seconds": 8}]}
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "HUB_VAR_DIR": str(tmp_path),
        "ATHENA_BASE_URL": sandbox.url,
        "ATHENA_READ_TIMEOUT": "30",
        "ATHENA_RATE_LIMIT_PER_SECOND": "100",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_intents", "--budget", "30"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: sandbox.records("patients", created_via="api")["patients"], 20, "athena to commit the chart")
        os.killpg(worker.pid, signal.SIGKILL)  # while athena holds the answer back
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)

    def audited() -> int:
        return AuditEvent.objects.filter(system="athena", direction="outbound").count()

    wait_for(lambda: sandbox.requests(route=ROUTE, method="POST"), 20, "the cut POST in athena's log")
    calls = len(sandbox.requests(system="athena"))
    assert CallInFlight.objects.count() == 1
    assert audited() == calls - 1  # the POST reached athena; its process died before auditing it
    assert recover_interrupted_calls(older_than_seconds=3600) == 0  # not before it could still be running
    assert recover_interrupted_calls(older_than_seconds=0) == 1
    assert audited() == calls and not CallInFlight.objects.exists()
    row = AuditEvent.objects.filter(system="athena").latest("sequence")
    assert (row.method, row.route, row.intent_id) == ("POST", ROUTE, str(intent.pk))
    assert row.outcome_detail.startswith("interrupted")
    assert recover_interrupted_calls(older_than_seconds=0) == 0
