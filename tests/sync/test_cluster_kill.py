"""The task cluster keeps working after its processes are killed with SIGKILL.

An idle django-q2 worker waits for tasks holding the task queue's reader lock; killed, it never
releases it, and workers started in its place would wait on that lock for good. The hub's sentinel
starts the cluster's processes again on fresh queues instead (`hub/cluster.py`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.models import WriteIntent
from tests.api.conftest import make_portal, registration
from tests.conftest import Sandbox
from tests.factories import make_department, make_practice
from tests.sync.test_worker_crash import ROOT, database_url, wait_for


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the cluster's processes in /proc")
@pytest.mark.django_db(transaction=True)
def test_the_cluster_works_on_after_every_process_of_it_is_killed(sandbox: Sandbox, tmp_path: Path) -> None:
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("kill-portal", locations=["1"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "HUB_VAR_DIR": str(tmp_path),
        "ATHENA_BASE_URL": sandbox.url,
        "PORTAL_WEBHOOK_URL": f"{sandbox.url}/_portal/webhooks",
        "ATHENA_RATE_LIMIT_PER_SECOND": "100",
        "HUB_Q_WORKERS": "2",
    }
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        sentinel = wait_for(lambda: children(cluster.pid), 30, "the sentinel")[0]
        # Two workers, the monitor and the pusher; the idle workers wait on the task queue.
        processes = wait_for(lambda: len(children(sentinel)) >= 4 and children(sentinel), 30, "the cluster")
        time.sleep(1)
        for pid in processes:
            os.kill(pid, signal.SIGKILL)

        assert portal.post("/api/v1/patients", registration(last_name="Killcheck")).status_code == 202
        wait_for(
            lambda: WriteIntent.objects.filter(operation="create_patient", state="succeeded").exists(),
            45,
            "a worker to carry the registration out",
        )
        assert set(children(sentinel)).isdisjoint(processes)
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
    assert len(sandbox.records("patients", created_via="api")["patients"]) == 1
